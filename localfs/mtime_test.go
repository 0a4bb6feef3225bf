package localfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSetMtimeInRootKeepsAtimeAndRefusesSymlinks: outside Linux every
// commit dates its file through setMtimeInRoot (setMtimeNoFollow returned
// ErrUnsupported there, and every download failed "unable to set mtime").
// It sets the mtime to the nanosecond, leaves the atime alone, and refuses a
// symlink rather than dating its target.
func TestSetMtimeInRootKeepsAtimeAndRefusesSymlinks(t *testing.T) {
	root := t.TempDir()
	target := filepath.Join(root, "f")
	if err := os.WriteFile(target, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	atime := time.Unix(1_600_000_000, 0)
	if err := os.Chtimes(target, atime, atime); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", filepath.Join(root, "l")); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := dir{r: r}

	want := time.Unix(1_700_000_000, 123_456_789)
	if err := setMtimeInRoot(d, "f", want.UnixNano()); err != nil {
		t.Fatalf("setMtimeInRoot: %v", err)
	}
	fi, err := os.Lstat(target)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(want) {
		t.Errorf("mtime %v, want %v", fi.ModTime(), want)
	}
	if got, ok := accessTime(fi); ok && !got.Equal(atime) {
		t.Errorf("atime %v changed, want %v kept", got, atime)
	}

	err = setMtimeInRoot(d, "l", want.UnixNano()+1)
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("setMtimeInRoot on a symlink: %v, want ErrUnsupported", err)
	}
	if fi, err := os.Lstat(target); err != nil || !fi.ModTime().Equal(want) {
		t.Fatalf("the symlink's target was dated: %v %v", fi.ModTime(), err)
	}
	if err := setMtimeInRoot(d, "missing", want.UnixNano()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("setMtimeInRoot on a missing name: %v, want ErrNotExist", err)
	}
}
