package localfs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestOpenFileByDescriptor: the reader OpenFile gives on Linux opens in
// one openat and one fstat, refuses what is not a regular file without
// blocking on a FIFO, describes the file as lstat does (the checks before
// and after a copy compare the two), and reads nothing once closed.
func TestOpenFileByDescriptor(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "f")
	if err := os.WriteFile(p, []byte("0123456789"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", filepath.Join(root, "l")); err != nil {
		t.Fatal(err)
	}
	f := newFS(t, root, Options{})
	defer f.Close()
	ctx := context.Background()
	for _, name := range []string{"fifo", "l"} {
		if r, err := f.OpenFile(ctx, name); !errors.Is(err, errNotRegular) {
			if err == nil {
				r.Close()
			}
			t.Errorf("OpenFile(%s): %v, want errNotRegular", name, err)
		}
	}
	r, err := f.OpenFile(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	li, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	opened := r.(*reader).opened
	if a, b := entryOf("f", opened), entryOf("f", li); a != b || ctime(opened) == 0 || nlink(opened) != 1 {
		t.Errorf("the open's fstat gives %+v (ctime %d, nlink %d), lstat %+v", a, ctime(opened), nlink(opened), b)
	}
	b := make([]byte, 4)
	if n, err := r.ReadAt(b, 6); n != 4 || err != nil || string(b) != "6789" {
		t.Errorf("ReadAt(6) = %d %v %q", n, err, b)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(b, 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("ReadAt after Close: %v, want os.ErrClosed", err)
	}
	if err := r.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Close: %v, want os.ErrClosed", err)
	}
}
