package localfs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/sys/unix"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// needXattr skips a test of the tag where the filesystem of root has no
// user extended attributes (the marker-file fallback is tested apart).
func needXattr(t *testing.T, root string) {
	t.Helper()
	probe := filepath.Join(root, "xattr-probe")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(probe)
	if err := unix.Setxattr(probe, ownerXattr, []byte{1}, 0); err != nil {
		t.Skipf("no user xattrs in %s: %v", root, err)
	}
}

func tagged(t *testing.T, path string) bool {
	t.Helper()
	_, err := unix.Lgetxattr(path, ownerXattr, nil)
	if err != nil && !errors.Is(err, unix.ENODATA) {
		t.Fatalf("getxattr %s: %v", path, err)
	}
	return err == nil
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestNewPartialIsTaggedNotMarked: a new partial says it is ferry's with
// its tag alone (no checkpoint file is made), and neither the tag nor any
// other file survives Commit.
func TestNewPartialIsTaggedNotMarked(t *testing.T) {
	root := t.TempDir()
	needXattr(t, root)
	f := newFS(t, root, Options{})
	resumable(f)
	defer f.Close()
	content := []byte("hello")
	meta := tree.Entry{Path: "f", Kind: tree.File, Size: 5, Mode: 0o644, Hash: xxhash.Sum64(content)}
	w, err := f.CreateFile(context.Background(), meta, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, root); len(got) != 1 || got[0] != "f.partial" {
		t.Fatalf("beside a new partial: %v, want f.partial alone", got)
	}
	if !tagged(t, filepath.Join(root, "f.partial")) {
		t.Fatal("new partial is not tagged as ferry's")
	}
	w.WriteAt(content, 0)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, root); len(got) != 1 || got[0] != "f" {
		t.Fatalf("after Commit: %v, want f alone", got)
	}
	if tagged(t, filepath.Join(root, "f")) {
		t.Fatal("the committed file still carries ferry's tag")
	}
	if b, _ := os.ReadFile(filepath.Join(root, "f")); string(b) != "hello" {
		t.Fatalf("f reads %q", b)
	}
}

// TestTaggedLeftoverIsResumed: a tagged partial left by an interrupted
// writer (here a closed FS, as after a crash) is ferry's, and is resumed
// by the next one; the same bytes untagged are a user's file and refused.
func TestTaggedLeftoverIsResumed(t *testing.T) {
	root := t.TempDir()
	needXattr(t, root)
	content := []byte("0123456789")
	meta := tree.Entry{Path: "f", Kind: tree.File, Size: 10, Mode: 0o644, Hash: xxhash.Sum64(content)}
	f := newFS(t, root, Options{})
	resumable(f)
	w, err := f.CreateFile(context.Background(), meta, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	w.WriteAt(content[:4], 0)
	w.Abort()
	f.Close()
	if _, err := os.Lstat(filepath.Join(root, "f.partial"+tree.CheckpointSuffix)); !os.IsNotExist(err) {
		t.Fatalf("a marker file was made: %v", err)
	}

	f = newFS(t, root, Options{})
	resumable(f)
	defer f.Close()
	w, err = f.CreateFile(context.Background(), meta, tree.Entry{})
	if err != nil {
		t.Fatalf("resume of a tagged leftover: %v", err)
	}
	if got := w.(*Writer).ExistingSize(); got != 4 {
		t.Fatalf("ExistingSize = %d, want 4", got)
	}
	w.WriteAt(content[4:], 4)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "f")); string(b) != string(content) || tagged(t, filepath.Join(root, "f")) {
		t.Fatalf("f reads %q (tagged %v)", b, tagged(t, filepath.Join(root, "f")))
	}

	// The same leftover without its tag is not ferry's.
	w, err = f.CreateFile(context.Background(), tree.Entry{Path: "g", Kind: tree.File, Size: 10, Hash: meta.Hash}, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	w.WriteAt(content[:4], 0)
	w.Abort()
	if err := unix.Removexattr(filepath.Join(root, "g.partial"), ownerXattr); err != nil {
		t.Fatal(err)
	}
	if _, err := f.CreateFile(context.Background(), tree.Entry{Path: "g", Kind: tree.File, Size: 10}, tree.Entry{}); !errors.Is(err, endpoint.ErrInTheWay) {
		t.Fatalf("untagged leftover: %v, want ErrInTheWay", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "g.partial")); string(b) != "0123" {
		t.Fatalf("untagged leftover was changed: %q", b)
	}
}

// TestUntaggedLockedPartialIsBusy: between Commit's sync and its rename a
// partial has no tag but is locked by its writer. Another writer must see
// a transfer in progress (retried), not a user's file (which needs the
// user to act).
func TestUntaggedLockedPartialIsBusy(t *testing.T) {
	root := t.TempDir()
	needXattr(t, root)
	f := newFS(t, root, Options{})
	resumable(f)
	defer f.Close()
	meta := tree.Entry{Path: "f", Kind: tree.File, Size: 3}
	w, err := f.CreateFile(context.Background(), meta, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := unix.Removexattr(filepath.Join(root, "f.partial"), ownerXattr); err != nil {
		t.Fatal(err)
	}
	_, err = f.CreateFile(context.Background(), meta, tree.Entry{})
	if !errors.Is(err, endpoint.ErrChanged) || errors.Is(err, endpoint.ErrExists) {
		t.Fatalf("second writer of a locked untagged partial: %v, want ErrChanged", err)
	}
}

// TestFailedCommitKeepsPartialFerrys: when the rename is refused
// (something appeared at the path) the partial stays, and must still be
// ferry's so that a retry resumes it.
func TestFailedCommitKeepsPartialFerrys(t *testing.T) {
	for _, noXattr := range []bool{false, true} {
		root := t.TempDir()
		if !noXattr {
			needXattr(t, root)
		}
		f := newFS(t, root, Options{})
		resumable(f)
		f.noXattr = noXattr
		content := []byte("abcdef")
		meta := tree.Entry{Path: "f", Kind: tree.File, Size: 6, Mode: 0o644, Hash: xxhash.Sum64(content)}
		w, err := f.CreateFile(context.Background(), meta, tree.Entry{})
		if err != nil {
			t.Fatal(err)
		}
		w.WriteAt(content, 0)
		if err := os.WriteFile(filepath.Join(root, "f"), []byte("user's"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); !errors.Is(err, endpoint.ErrChanged) {
			t.Fatalf("noXattr=%v: Commit onto a file that appeared: %v, want ErrChanged", noXattr, err)
		}
		if b, _ := os.ReadFile(filepath.Join(root, "f")); string(b) != "user's" {
			t.Fatalf("noXattr=%v: the file that appeared was replaced: %q", noXattr, b)
		}
		cur, err := f.Stat(context.Background(), "f")
		if err != nil {
			t.Fatal(err)
		}
		w, err = f.CreateFile(context.Background(), meta, cur)
		if err != nil {
			t.Fatalf("noXattr=%v: retry after a refused Commit: %v", noXattr, err)
		}
		if got := w.(*Writer).ExistingSize(); got != 6 {
			t.Fatalf("noXattr=%v: ExistingSize = %d, want 6", noXattr, got)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(root, "f")); string(b) != "abcdef" {
			t.Fatalf("noXattr=%v: f reads %q", noXattr, b)
		}
		if got := listDir(t, root); len(got) != 1 {
			t.Fatalf("noXattr=%v: leftovers: %v", noXattr, got)
		}
		f.Close()
	}
}

// TestMarkerFallbackWithoutXattr: where the tag cannot be set, the marker
// file says the partial is ferry's, as before, and goes at Commit.
func TestMarkerFallbackWithoutXattr(t *testing.T) {
	root := t.TempDir()
	content := []byte("0123456789")
	meta := tree.Entry{Path: "f", Kind: tree.File, Size: 10, Mode: 0o644, Hash: xxhash.Sum64(content)}
	f := newFS(t, root, Options{})
	resumable(f)
	defer f.Close()
	f.noXattr = true
	w, err := f.CreateFile(context.Background(), meta, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(root, "f.partial"+tree.CheckpointSuffix)
	if fi, err := os.Lstat(marker); err != nil || fi.Size() != 0 {
		t.Fatalf("marker file: %v", err)
	}
	if tagged(t, filepath.Join(root, "f.partial")) {
		t.Fatal("tagged although xattrs are off")
	}
	w.WriteAt(content[:3], 0)
	w.Abort()
	w, err = f.CreateFile(context.Background(), meta, tree.Entry{})
	if err != nil {
		t.Fatalf("resume with the marker: %v", err)
	}
	if got := w.(*Writer).ExistingSize(); got != 3 {
		t.Fatalf("ExistingSize = %d, want 3", got)
	}
	w.WriteAt(content[3:], 3)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, root); len(got) != 1 || got[0] != "f" {
		t.Fatalf("after Commit: %v, want f alone", got)
	}
}
