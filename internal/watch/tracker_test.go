package watch

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/fsnotify/fsnotify"
)

// limited refuses watches past n, as inotify does at max_user_watches.
type limited struct {
	n     int
	added []string
}

func (l *limited) Add(name string) error {
	if len(l.added) >= l.n {
		return syscall.ENOSPC
	}
	l.added = append(l.added, name)
	return nil
}
func (l *limited) Remove(string) error           { return nil }
func (l *limited) Events() <-chan fsnotify.Event { return nil }
func (l *limited) Errors() <-chan error          { return nil }
func (l *limited) Close() error                  { return nil }

// TestWatchLimitNamesTheSysctl: at the watch limit, the tracker watches
// what it can, and Failed names the first directory it could not watch
// and the sysctl that raises the limit.
func TestWatchLimitNamesTheSysctl(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a", "b", "c"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w := &limited{n: 2}
	trk := New(w, []string{root}, nil, "", slog.New(slog.DiscardHandler))
	if trk.Failed() != nil {
		t.Fatal("failed before anything was watched")
	}
	trk.AddAll()
	if len(w.added) != 2 {
		t.Fatalf("watched %v, want the first two directories", w.added)
	}
	f := trk.Failed()
	if f == nil || !f.Limit() || !errors.Is(f, syscall.ENOSPC) {
		t.Fatalf("Failed() = %v, want the watch limit", f)
	}
	if !strings.Contains(f.Error(), "sysctl fs.inotify.max_user_watches=") || !strings.Contains(f.Error(), f.Dir) {
		t.Fatalf("message does not name the directory and the sysctl: %v", f)
	}
}

// TestUnwatchedClearsOnceWatchedOrGone: the directories that could not be
// watched are counted until a later walk watches them (the limit was
// raised) or they are removed; Failed is nil again then.
func TestUnwatchedClearsOnceWatchedOrGone(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a", "b", "c", "c/deep"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w := &limited{n: 2} // root and a
	trk := New(w, []string{root}, nil, "", slog.New(slog.DiscardHandler))
	trk.AddAll()
	if n, f := trk.Unwatched(), trk.Failed(); n != 2 || f == nil || f.Dir != filepath.Join(root, "b") {
		t.Fatalf("Unwatched() = %d, Failed() = %v; want b and c (not c/deep, below c), b first", n, f)
	}
	if f := trk.Failed(); f.Fix() == "" || !strings.Contains(f.Fix(), "fs.inotify.max_user_watches") {
		t.Fatalf("Fix() = %q, want the sysctl", f.Fix())
	}

	// b is removed: its parent's watch says so, and c stands for the rest.
	if err := os.Remove(filepath.Join(root, "b")); err != nil {
		t.Fatal(err)
	}
	trk.Handle(fsnotify.Event{Name: filepath.Join(root, "b"), Op: fsnotify.Remove})
	if n, f := trk.Unwatched(), trk.Failed(); n != 1 || f == nil || f.Dir != filepath.Join(root, "c") {
		t.Fatalf("after b went: Unwatched() = %d, Failed() = %v; want c alone", n, f)
	}
	// Still at the limit: a walk finds c again.
	trk.AddAll()
	if n := trk.Unwatched(); n != 1 {
		t.Fatalf("walk at the limit: Unwatched() = %d, want 1", n)
	}

	w.n = 100 // the limit is raised
	trk.AddAll()
	if n, f := trk.Unwatched(), trk.Failed(); n != 0 || f != nil {
		t.Fatalf("after the limit was raised: Unwatched() = %d, Failed() = %v; want none", n, f)
	}
	if !slices.Contains(w.added, filepath.Join(root, "c", "deep")) {
		t.Fatalf("watched %v, want c/deep too", w.added)
	}
}

// TestVersionStoreIsNotWatched: a .ferry-versions folder, at the top or
// deeper, gets no watch, and a change inside one asks for no pass.
func TestVersionStoreIsNotWatched(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{".ferry-versions/a", "sub/.ferry-versions", "sub/kept"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w := &limited{n: 100}
	trk := New(w, []string{root}, nil, "", slog.New(slog.DiscardHandler))
	trk.AddAll()
	for _, d := range w.added {
		if strings.Contains(d, ".ferry-versions") {
			t.Errorf("watched %s", d)
		}
	}
	if !slices.Contains(w.added, filepath.Join(root, "sub", "kept")) {
		t.Errorf("watched %v, want sub/kept", w.added)
	}
	for _, p := range []string{".ferry-versions/a/x~20261207-140512.123Z~deleted", "sub/.ferry-versions/y"} {
		if _, matters := trk.Handle(fsnotify.Event{Name: filepath.Join(root, filepath.FromSlash(p)), Op: fsnotify.Create}); matters {
			t.Errorf("a change to %s asks for a pass", p)
		}
	}
	if _, matters := trk.Handle(fsnotify.Event{Name: filepath.Join(root, "sub", "kept", "z"), Op: fsnotify.Create}); !matters {
		t.Errorf("a change to sub/kept/z asks for no pass")
	}
}
