package watch

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
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
