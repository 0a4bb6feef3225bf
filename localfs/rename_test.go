package localfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestCheckedRenameInFolderAcrossDirectories: outside Linux and macOS a
// rename between two directories failed ("cross-directory rename is only
// supported on Linux"), so a moved directory was never renamed, pass after
// pass. The portable rename moves it through the folder's root, and still
// refuses a taken destination.
func TestCheckedRenameInFolderAcrossDirectories(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a/sub", "b"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"a/sub/f", "a/g", "b/taken"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fsys, err := New(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	parent := func(p string) (dir, string) {
		t.Helper()
		d, base, err := fsys.parentFor("rename", p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.close)
		return d, base
	}

	from, fromName := parent("a/sub")
	to, toName := parent("b/moved")
	if err := checkedRenameInFolder(from, fromName, to, toName); err != nil {
		t.Fatalf("rename a/sub to b/moved: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "b", "moved", "f")); err != nil || string(b) != "a/sub/f" {
		t.Fatalf("b/moved/f after the rename: %q %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(root, "a", "sub")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a/sub still there: %v", err)
	}

	from, fromName = parent("a/g")
	to, toName = parent("b/taken")
	if err := checkedRenameInFolder(from, fromName, to, toName); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("rename onto a taken name: %v, want ErrExist", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "b", "taken")); string(b) != "b/taken" {
		t.Fatalf("taken destination replaced: %q", b)
	}

	from, fromName = parent("a/g")
	to, toName = parent("a/h")
	if err := checkedRenameInFolder(from, fromName, to, toName); err != nil {
		t.Fatalf("rename within a directory: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "a", "h")); err != nil {
		t.Fatal(err)
	}
}
