package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/tree"
)

// The events a pass's own writes raise (a new directory, its chmod, the
// rename of the finished file) must not cause another pass, but an edit
// or a delete of the same file right after must.
func TestContinuousOwnWritesCauseNoExtraPass(t *testing.T) {
	l := newLive(t, config.Job{Cooloff: 100 * time.Millisecond}, nil)
	l.settle(t)
	before := l.passes()

	// Written on the remote side, so the pass writes into the local root
	// (and both roots are watched). Made outside and moved in, so that it
	// appears at once: written in place, a stall between the mkdir and
	// the write longer than the cool-off would rightly cost two passes.
	staged := filepath.Join(t.TempDir(), "d")
	writeFile(t, filepath.Join(staged, "x.txt"), "hello")
	if err := os.Rename(staged, filepath.Join(l.remote, "d")); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(l.local, "d", "x.txt")
	arrive(t, local, []byte("hello"), time.Now())
	l.settle(t)
	if n := l.passes() - before; n != 1 {
		t.Fatalf("%d passes for one new file, want 1: the pass's own writes asked for another", n)
	}

	// An edit of the same size right after: only its mtime tells it from
	// the pass's write. One write, not a truncation and a write, which a
	// stall could split into two changes and two passes.
	if err := overwrite(local, []byte("HELLO")); err != nil {
		t.Fatal(err)
	}
	arrive(t, filepath.Join(l.remote, "d", "x.txt"), []byte("HELLO"), time.Now())
	l.settle(t)
	if n := l.passes() - before; n != 2 {
		t.Fatalf("%d passes after the edit, want 2", n)
	}

	// Edited right after the pass wrote it: no settle in between.
	writeFile(t, filepath.Join(l.remote, "e.txt"), "one")
	arrive(t, filepath.Join(l.local, "e.txt"), []byte("one"), time.Now())
	writeFile(t, filepath.Join(l.local, "e.txt"), "two")
	arrive(t, filepath.Join(l.remote, "e.txt"), []byte("two"), time.Now())

	// Deleted right after the pass wrote it.
	writeFile(t, filepath.Join(l.remote, "f.txt"), "f")
	arrive(t, filepath.Join(l.local, "f.txt"), []byte("f"), time.Now())
	if err := os.Remove(filepath.Join(l.local, "f.txt")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "f.txt removed on the remote", func() bool {
		_, err := os.Lstat(filepath.Join(l.remote, "f.txt"))
		return os.IsNotExist(err)
	})
}

// overwrite replaces a file's bytes in place with one write.
func overwrite(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func TestInAgreedState(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "f")
	writeFile(t, file, "abc")
	mtime := time.Unix(1_700_000_000, 123456789)
	if err := os.Chtimes(file, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	fileEntry := tree.Entry{Path: "f", Kind: tree.File, Size: 3, Mtime: mtime.UnixNano(), Mode: 0o644}
	for _, c := range []struct {
		name string
		path string
		e    tree.Entry
		want bool
	}{
		{"file as written", "f", fileEntry, true},
		{"file with another mtime", "f", func() tree.Entry { e := fileEntry; e.Mtime++; return e }(), false},
		{"file with another size", "f", func() tree.Entry { e := fileEntry; e.Size = 4; return e }(), false},
		{"file with other permissions", "f", func() tree.Entry { e := fileEntry; e.Mode = 0o600; return e }(), false},
		{"file where a directory was agreed", "f", tree.Entry{Path: "f", Kind: tree.Dir, Mode: 0o644}, false},
		{"file where none was agreed", "f", tree.Entry{Path: "f"}, false},
		{"directory", ".", tree.Entry{Kind: tree.Dir, Mode: 0o700}, true},
		{"directory with other permissions", ".", tree.Entry{Kind: tree.Dir, Mode: 0o755}, false},
		{"symlink", "l", tree.Entry{Path: "l", Kind: tree.Symlink, Target: "f"}, true},
		{"symlink elsewhere", "l", tree.Entry{Path: "l", Kind: tree.Symlink, Target: "g"}, false},
		{"removed as agreed", "gone", tree.Entry{Path: "gone"}, true},
		{"removed, a file agreed", "gone", tree.Entry{Path: "gone", Kind: tree.File}, false},
	} {
		was, _ := os.Lstat(filepath.Join(dir, c.path))
		if got := inAgreedState(filepath.Join(dir, c.path), c.e, was); got != c.want {
			t.Errorf("%s: inAgreedState = %v, want %v", c.name, got, c.want)
		}
	}

	// The pass made an empty directory d; a tree with the same
	// permissions moved into its place is not what the pass left.
	d := filepath.Join(dir, "d")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	was, err := os.Lstat(d)
	if err != nil {
		t.Fatal(err)
	}
	dirEntry := tree.Entry{Path: "d", Kind: tree.Dir, Mode: 0o755}
	if !inAgreedState(d, dirEntry, was) {
		t.Fatal("the directory the pass made is not in its agreed state")
	}
	moved := filepath.Join(dir, "stuff")
	if err := os.Mkdir(moved, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(moved, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(moved, "inside"), "x")
	if err := os.Remove(d); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(moved, d); err != nil {
		t.Fatal(err)
	}
	if inAgreedState(d, dirEntry, was) {
		t.Fatal("a directory moved into the place of the one the pass made is taken for it: its files would not sync")
	}
	if inAgreedState(filepath.Join(dir, "f"), fileEntry, nil) {
		t.Fatal("a path the pass did not see afterwards is taken for its own write")
	}
}
