package localfs

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/tree"
)

func scanWith(t *testing.T, f *FS, opts endpoint.ScanOptions) []tree.Entry {
	t.Helper()
	var got []tree.Entry
	if err := f.Scan(context.Background(), opts, func(e tree.Entry) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return got
}

// scopeTree makes a tree with excluded, in-flight and linked entries.
func scopeTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, p := range []string{"a/b/c/1.txt", "a/b/c/2.txt", "a/b/d.txt", "a/e.txt", "a1/x", "a-b/y", "z.txt",
		"build/out.o", "a/b/skip.tmp", "a/b/c/f.part", "big/f0", "big/f1"} {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a/b", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestScanWithinListsTheScope: a scan given Within lists exactly what a
// whole scan lists of the scope, in the same order: the context
// directories alone, each path's subtree, nothing a whole scan leaves out
// (excluded, in-flight), nothing through a symlinked context, and a
// missing path as nothing.
func TestScanWithinListsTheScope(t *testing.T) {
	root := scopeTree(t)
	f, err := New(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	base := endpoint.ScanOptions{Exclude: []string{"*.tmp", "build/"}, PartialSuffix: ".part"}
	whole := scanWith(t, f, base)
	for _, within := range [][]string{
		{"a/b/c"},
		{"a/b/c/1.txt", "a/e.txt", "z.txt"},
		{"a"},
		{"a/b", "a/b/c/2.txt", "a1"},
		{"build/out.o", "a/b/skip.tmp", "a/b/c/f.part"},
		{"link/c/1.txt"},
		{"missing", "a/missing/x", "z.txt/below"},
		{"big/f1", "a-b"},
	} {
		scope := tree.NewScope(within)
		var want []tree.Entry
		for _, e := range whole {
			if ok, _ := scope.Contains(e.Path); ok {
				want = append(want, e)
			}
		}
		opts := base
		opts.Within = within
		got := scanWith(t, f, opts)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("within %q:\n got  %+v\n want %+v", within, got, want)
		}
	}
}

// TestScopedScanKeepsTheCacheOutsideIt: after a scoped scan and its
// cache's Commit, the files outside the scope still reuse their hashes:
// the scan did not see them, so it must not have dropped their records.
func TestScopedScanKeepsTheCacheOutsideIt(t *testing.T) {
	root := scopeTree(t)
	db, err := snapshot.Open(filepath.Join(t.TempDir(), "job.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(root, Options{Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	hashed := countHashes(f)
	all := scanWith(t, f, endpoint.ScanOptions{})
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, e := range all {
		if e.Kind == tree.File {
			files++
		}
	}
	if err := os.Remove(filepath.Join(root, "a/b/c/2.txt")); err != nil {
		t.Fatal(err)
	}
	scanWith(t, f, endpoint.ScanOptions{Within: []string{"a/b/c"}})
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	hashed.Store(0)
	scanWith(t, f, endpoint.ScanOptions{})
	if n := hashed.Load(); n != 0 {
		t.Fatalf("a whole scan after a scoped one hashed %d files again; the scoped scan's commit dropped their records", n)
	}
}

func scopePaths(es []tree.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Path
	}
	return out
}
