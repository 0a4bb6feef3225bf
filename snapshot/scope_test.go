package snapshot

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/ferry-sync/ferry/tree"
)

// readAll drains r.
func readAll(t *testing.T, r *AncestorReader) []tree.Entry {
	t.Helper()
	var got []tree.Entry
	for range 1 << 20 {
		e, ok, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return got
		}
		got = append(got, e)
	}
	t.Fatal("reader does not end")
	return nil
}

// TestScopedAncestorReaderReadsOnlyTheScope: a scoped reader returns the
// context directories' own records and the roots' subtrees, in tree order,
// across batches, and nothing else: not a sibling whose name shares a
// prefix ("d1" and "d10", "d1-x"), not the other children of a context
// directory. It is checked against filtering the whole ancestor.
func TestScopedAncestorReaderReadsOnlyTheScope(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "a.db"), nil)
	var in []tree.Entry
	add := func(p string, isDir bool) {
		if isDir {
			in = append(in, dir(p))
		} else {
			in = append(in, file(p, int64(len(in)), uint64(len(in)+1)))
		}
	}
	for _, d := range []string{"d1", "d10", "top"} {
		add(d, true)
		add(d+"/sub", true)
		for j := range 3 {
			add(fmt.Sprintf("%s/sub/f%d", d, j), false)
		}
		add(d+"/sub/deep", true)
		add(d+"/sub/deep/x", false)
	}
	add("big", true)
	for j := range ancestorBatch + 50 {
		add(fmt.Sprintf("big/f%05d", j), false)
	}
	add("d1-x", false)
	add("z", false)
	slices.SortFunc(in, func(a, b tree.Entry) int { return tree.Compare(a.Path, b.Path) })
	record(t, db, in...)

	for _, within := range [][]string{
		{"d1/sub/deep"},
		{"d1/sub", "top/sub/f1", "z"},
		{"big", "d1/sub/f0"},
		{"d10/sub/deep/x", "d1", "d1/sub/f2", "missing/path"},
		{"nothing/here"},
	} {
		scope := tree.NewScope(within)
		var want []tree.Entry
		for _, e := range in {
			if ok, _ := scope.Contains(e.Path); ok {
				want = append(want, e)
			}
		}
		got := readAll(t, db.ScopedAncestorReader(scope))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("within %q: read %d entries, want %d; %s", within, len(got), len(want), firstDiff(got, want))
		}
	}
	if got := readAll(t, db.ScopedAncestorReader(tree.NewScope(nil))); !reflect.DeepEqual(got, in) {
		t.Errorf("the whole scope read %d entries, want %d", len(got), len(in))
	}
}

// TestTotalsFollowTheWriter: once stored, the ancestor's totals follow
// every Writer flush (new records, replaced ones, a file turned directory,
// forgotten subtrees), and Reset drops them.
func TestTotalsFollowTheWriter(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "a.db"), nil)
	if _, ok, err := db.Totals(); ok || err != nil {
		t.Fatalf("new snapshot: totals ok %v, err %v", ok, err)
	}
	record(t, db, dir("a"), file("a/1", 1, 1), file("a/2", 2, 2), file("b", 3, 3))
	if err := db.SetTotals(Totals{Entries: 4, Files: 3}); err != nil {
		t.Fatal(err)
	}
	record(t, db, file("a/1", 5, 5), dir("c"), file("c/1", 1, 9), dir("b"), file("b/x", 1, 8))
	w := db.Writer()
	if err := w.Forget("a"); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	all, err := db.Ancestor()
	if err != nil {
		t.Fatal(err)
	}
	want := Totals{Entries: len(all)}
	for _, e := range all {
		if e.Kind == tree.File {
			want.Files++
		}
	}
	if got, ok, err := db.Totals(); !ok || err != nil || got != want {
		t.Fatalf("totals %+v (ok %v, err %v), the ancestor holds %+v", got, ok, err, want)
	}
	if err := db.Reset(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db.Totals(); ok || err != nil {
		t.Fatalf("after Reset: totals ok %v, err %v", ok, err)
	}
}

// TestScopedScanCommitKeepsRecordsOutsideTheScope: a scan that lists only
// a scope stores nothing outside it, and its Commit must not take the
// records it never saw for deleted files: only the scope's own records
// that were not stored again go.
func TestScopedScanCommitKeepsRecordsOutsideTheScope(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	es := scanTree(400) // d0 .. d10, 37 files each
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	storeAll(t, c, es)

	// Scope: all of d3, and d7/f5 alone. d3/f0 and d7/f5 were deleted.
	scope := tree.NewScope([]string{"d3", "d7/f5"})
	var want []tree.Entry
	c.Scope(scope)
	for _, e := range es {
		gone := e.Path == "d3/f0" || e.Path == "d7/f5"
		if !gone {
			want = append(want, e)
		}
		if scope.InSubtree(e.Path) && !gone {
			c.Store(e)
		}
	}
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	mustEqualBucket(t, db, "local", want)

	// The next scan is whole again: it sweeps as before.
	storeAll(t, c, want[:10])
	mustEqualBucket(t, db, "local", want[:10])
}
