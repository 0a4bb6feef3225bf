package snapshot

import (
	"path/filepath"
	"testing"
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
