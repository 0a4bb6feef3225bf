package localfs

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/endpoint/endpointtest"
	"github.com/ferry-sync/ferry/tree"
	"github.com/ferry-sync/ferry/versions"
)

var versionsT0 = time.Date(2026, 12, 7, 14, 5, 12, 0, time.UTC)

// withVersions opens an FS on a new folder with a version store.
func withVersions(t *testing.T) (*FS, *versions.Store, string) {
	t.Helper()
	root := t.TempDir()
	vs, err := versions.Open(root, versions.Options{Now: func() time.Time { return versionsT0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vs.Close() })
	f := newFS(t, root, Options{Versions: vs})
	t.Cleanup(func() { f.Close() })
	return f, vs, root
}

func onlyVersion(t *testing.T, vs *versions.Store, p string) (versions.Version, string) {
	t.Helper()
	list, err := vs.List(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("versions of %s: %+v, want 1", p, list)
	}
	r, err := vs.Open(list[0])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return list[0], string(b)
}

func TestRemoveKeepsAVersion(t *testing.T) {
	f, vs, root := withVersions(t)
	ctx := context.Background()
	os.MkdirAll(filepath.Join(root, "d"), 0o755)
	os.WriteFile(filepath.Join(root, "d/f.txt"), []byte("old"), 0o644)
	cur, err := f.Stat(ctx, "d/f.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Remove(ctx, "d/f.txt", cur); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(root, "d/f.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("still there: %v", err)
	}
	v, content := onlyVersion(t, vs, "d/f.txt")
	if content != "old" || v.Reason != versions.Deleted {
		t.Errorf("kept %q for %q", content, v.Reason)
	}
	// The directory, now empty, goes without a version.
	d, _ := f.Stat(ctx, "d")
	if err := f.Remove(ctx, "d", d); err != nil {
		t.Fatal(err)
	}
}

func TestCommitOverAFileKeepsAVersion(t *testing.T) {
	f, vs, root := withVersions(t)
	ctx := versions.WithReason(context.Background(), versions.Reset)
	os.WriteFile(filepath.Join(root, "f"), []byte("old"), 0o644)
	cur, _ := f.Stat(ctx, "f")
	meta := tree.Entry{Path: "f", Kind: tree.File, Size: 3, Mode: 0o644, Hash: xxhash.Sum64String("new")}
	w, err := f.CreateFile(ctx, meta, cur)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteAt([]byte("new"), 0)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "f")); string(b) != "new" {
		t.Errorf("in place: %q", b)
	}
	v, content := onlyVersion(t, vs, "f")
	if content != "old" || v.Reason != versions.Reset {
		t.Errorf("kept %q for %q", content, v.Reason)
	}
}

func TestSymlinkOverAFileKeepsAVersion(t *testing.T) {
	f, vs, root := withVersions(t)
	ctx := context.Background()
	os.WriteFile(filepath.Join(root, "f"), []byte("old"), 0o644)
	cur, _ := f.Stat(ctx, "f")
	if err := f.Symlink(ctx, "f", "elsewhere", cur); err != nil {
		t.Fatal(err)
	}
	if v, content := onlyVersion(t, vs, "f"); content != "old" || v.Reason != versions.Replaced {
		t.Errorf("kept %q for %q", content, v.Reason)
	}
}

func TestVersionStoreIsNeitherScannedNorWritten(t *testing.T) {
	f, _, root := withVersions(t)
	ctx := context.Background()
	for _, p := range []string{".ferry-versions/a~20261207-140512.000Z~deleted.txt", "sub/.Ferry-Versions/x", "sub/y"} {
		full := filepath.Join(root, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, []byte("x"), 0o644)
	}
	var got []string
	for _, e := range scanAll(t, f) {
		got = append(got, e.Path)
	}
	if want := []string{"sub", "sub/y"}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("scan lists %q, want %q", got, want)
	}
	e := tree.Entry{Path: ".ferry-versions/a~20261207-140512.000Z~deleted.txt", Kind: tree.File, Size: 1}
	if err := f.Remove(ctx, e.Path, e); !errors.Is(err, tree.ErrInvalidPath) {
		t.Errorf("Remove in the store: %v", err)
	}
	if _, err := f.CreateFile(ctx, tree.Entry{Path: "sub/.ferry-versions/new", Kind: tree.File}, tree.Entry{}); !errors.Is(err, tree.ErrInvalidPath) {
		t.Errorf("CreateFile in a store: %v", err)
	}
}

func TestConformanceWithVersions(t *testing.T) {
	endpointtest.Run(t, func(t *testing.T) (endpoint.Endpoint, string) {
		root := t.TempDir()
		vs, err := versions.Open(root, versions.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { vs.Close() })
		return newFS(t, root, Options{Versions: vs}), root
	})
}

// TestFailedReplaceKeepsNoVersion: the version of a file about to be
// replaced is linked into the store first; when the rename over it then
// fails, nothing was replaced and the store must not list a "replaced"
// version of a file still in place (it did, before the undo).
func TestFailedReplaceKeepsNoVersion(t *testing.T) {
	root := t.TempDir()
	vs, err := versions.Open(root, versions.Options{Now: func() time.Time { return versionsT0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vs.Close() })
	// Just before the rename, the partial file goes (as if removed by
	// hand), so the rename fails after the version was linked.
	f := newFS(t, root, Options{Versions: vs, Failpoint: func(step CommitStep, p string) {
		if step != CommitSynced {
			return
		}
		ents, _ := os.ReadDir(root)
		for _, e := range ents {
			if n := e.Name(); n != "f" && n != versions.Dir {
				os.Remove(filepath.Join(root, n))
			}
		}
	}})
	t.Cleanup(func() { f.Close() })
	ctx := context.Background()
	os.WriteFile(filepath.Join(root, "f"), []byte("old"), 0o644)
	cur, _ := f.Stat(ctx, "f")
	meta := tree.Entry{Path: "f", Kind: tree.File, Size: 3, Mode: 0o644, Hash: xxhash.Sum64String("new")}
	w, err := f.CreateFile(ctx, meta, cur)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteAt([]byte("new"), 0)
	if err := w.Commit(); err == nil {
		t.Fatal("Commit succeeded without its partial file")
	}
	if b, _ := os.ReadFile(filepath.Join(root, "f")); string(b) != "old" {
		t.Errorf("in place: %q, want the old file", b)
	}
	list, err := vs.List("f")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("versions of f after a replace that failed: %+v, want none", list)
	}
}
