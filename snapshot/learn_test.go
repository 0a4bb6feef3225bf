package snapshot

import (
	"path/filepath"
	"testing"

	"github.com/ferry-sync/ferry/tree"
)

// TestLearnedHashesOutliveTheProcessAndDropNothing: hashes learned outside
// a scan (a first sync's copies) are found by Lookup at once, written by
// CommitLearned for a later process, and drop no other record; a scan's
// Commit after them sweeps as usual.
func TestLearnedHashesOutliveTheProcessAndDropNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.db")
	db := openTest(t, path, nil)
	es := scanTree(100)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	storeAll(t, c, es[:50])
	for _, e := range es[50:] {
		c.Learn(e)
	}
	if got, ok := c.Lookup(es[70].Path); !ok || got != es[70] {
		t.Fatalf("Lookup of a learned hash: %+v %v, want %+v", got, ok, es[70])
	}
	if err := c.CommitLearned(); err != nil {
		t.Fatal(err)
	}
	mustEqualBucket(t, db, "local", es)

	// A fresh cache, as the next process opens it, finds them.
	c2, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if got, ok := c2.Lookup(e.Path); !ok || got != e {
			t.Fatalf("the next process's Lookup of %s: %+v %v", e.Path, got, ok)
		}
	}
	// Learned and then scanned: the scan's Commit decides.
	c2.Learn(es[0])
	storeAll(t, c2, es[10:])
	if err := c2.CommitLearned(); err != nil {
		t.Fatal(err)
	}
	mustEqualBucket(t, db, "local", es[10:])
}

// firstSyncScan stores es as a scan with HashLater lists a tree its cache
// does not know (every file unhashed) and learns each file's hash right
// after the scan passed it, as a batched first sync's copies do while the
// scans still run; held is called after each step.
func firstSyncScan(c *Cache, es []tree.Entry, held func()) {
	c.Scope(tree.Scope{})
	for _, e := range es {
		unhashed := e
		unhashed.Hash = 0
		c.Store(unhashed)
		held()
		c.Learn(e)
		held()
	}
}

// TestLearnedDuringAScanOutlivesItsCommit: hashes learned while a scan
// runs, for paths it has passed (a batched first sync copies while its
// scans go on), are what the scan's Commit writes, not what it drops; and
// the cache holds at most heldMax of them at a time, writing the rest as
// it goes. Before, Commit dropped every one of them, and held them all
// until then.
func TestLearnedDuringAScanOutlivesItsCommit(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	c.heldMax, c.flushAt = 64, 64
	es := scanTree(2000)
	most := 0
	firstSyncScan(c, es, func() { most = max(most, c.Held()) })
	if most > c.heldMax {
		t.Errorf("the cache held %d records at once, want at most %d", most, c.heldMax)
	}
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	mustEqualBucket(t, db, "local", es)
	if n := c.Held(); n != 0 {
		t.Errorf("after Commit the cache holds %d records", n)
	}
}

// TestLearnedByAnInterruptedFirstSyncIsKept: a first sync interrupted
// before its scan's Commit keeps, with CommitLearned (cmd/ferry closes
// its folders so), every hash it learned, each as learned: what was
// written before holds no record a file's content does not have.
func TestLearnedByAnInterruptedFirstSyncIsKept(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	c.heldMax, c.flushAt = 64, 64
	es := scanTree(1000)
	firstSyncScan(c, es[:700], func() {})
	// Written so far: only what was learned, as learned.
	got := stored(t, db, "local")
	if len(got) < 700-64 {
		t.Errorf("%d records written while the scan ran, want at least %d", len(got), 700-64)
	}
	for p, g := range got {
		if e, ok := c.Lookup(p); !ok || e != g {
			t.Errorf("written %+v, learned %+v", g, e)
		}
	}
	if err := c.CommitLearned(); err != nil {
		t.Fatal(err)
	}
	mustEqualBucket(t, db, "local", es[:700])
}

// TestLearnedOutsideAScanIsWrittenAsItGrows: hashes learned with no scan
// under way (the files a pass wrote after its scans were committed) are
// written every heldMax records, not held to the end.
func TestLearnedOutsideAScanIsWrittenAsItGrows(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	c.heldMax, c.flushAt = 64, 64
	es := scanTree(1000)
	for _, e := range es {
		c.Learn(e)
		if n := c.Held(); n > c.heldMax {
			t.Fatalf("the cache holds %d learned records, want at most %d", n, c.heldMax)
		}
	}
	if err := c.CommitLearned(); err != nil {
		t.Fatal(err)
	}
	mustEqualBucket(t, db, "local", es)
}

// TestLearnedAfterAScanEndedOutlivesItsCommit: a scan that listed the
// whole tree (Scanned) and is not committed yet, as a destination's scan
// of a first sync is while the copies land, keeps at Commit the hashes
// learned meanwhile, before, between and after the paths it listed, and
// drops what it did not list; it writes them as they pass heldMax.
func TestLearnedAfterAScanEndedOutlivesItsCommit(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	c, err := db.Cache("remote")
	if err != nil {
		t.Fatal(err)
	}
	es := scanTree(600)
	storeAll(t, c, []tree.Entry{es[0], es[300], es[599]}) // gone by the next scan
	c.HoldAtMost(50)
	c.Scope(tree.Scope{})
	c.Store(es[100])
	c.Store(es[200])
	c.Scanned()
	var learned []tree.Entry
	for i, e := range es {
		if i != 100 && i != 200 && i%3 == 1 {
			c.Learn(e)
			learned = append(learned, e)
			if n := c.Held(); n > 50 {
				t.Fatalf("the cache holds %d records, want at most 50", n)
			}
		}
	}
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	want := append([]tree.Entry{es[100], es[200]}, learned...)
	mustEqualBucket(t, db, "remote", want)
	if got := stored(t, db, "remote"); len(got) != len(want) {
		t.Errorf("the bucket holds %d records, want %d", len(got), len(want))
	}
}
