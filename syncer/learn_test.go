package syncer_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/localfs"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/tree"
)

// heldCache is a side's scan cache that notes the most records it held
// in memory after any Store or Learn.
type heldCache struct {
	*snapshot.Cache
	most *atomic.Int64
}

func (h heldCache) note() {
	n := int64(h.Held())
	for {
		m := h.most.Load()
		if n <= m || h.most.CompareAndSwap(m, n) {
			return
		}
	}
}

func (h heldCache) Store(e tree.Entry) { h.Cache.Store(e); h.note() }
func (h heldCache) Learn(e tree.Entry) { h.Cache.Learn(e); h.note() }

// TestBatchedFirstSyncHoldsABoundedCache: during a batched first sync
// between two local folders with scan caches, neither cache holds more
// records in memory than a batch, though the sync learns every file on
// both sides (the source's as the copy reads it, the destination's as it
// writes it); an interrupted sync keeps what they wrote, and the next pass
// reads no file.
func TestBatchedFirstSyncHoldsABoundedCache(t *testing.T) {
	e := newEnv(t)
	e.job.Direction = config.LocalToRemote
	const files, batch, held = 1500, 200, 100
	e.firstBatch = batch
	for i := range files {
		e.write("local", fmt.Sprintf("d%02d/f%04d", i%23, i), strings.Repeat(fmt.Sprint(i), 1+i%9))
	}
	var most atomic.Int64
	caches := map[string]*snapshot.Cache{}
	for _, side := range []string{"local", "remote"} {
		c, err := e.db.Cache(side)
		if err != nil {
			t.Fatal(err)
		}
		c.HoldAtMost(held)
		caches[side] = c
	}
	open := func() (endpoint.Endpoint, endpoint.Endpoint) {
		var eps []endpoint.Endpoint
		for _, side := range []string{"local", "remote"} {
			c := heldCache{caches[side], &most}
			f, err := localfs.New(e.root(side), localfs.Options{Cache: c, Chunks: c.Cache, HashWorkers: 2})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			eps = append(eps, f)
		}
		return eps[0], eps[1]
	}
	e.wrap = func(endpoint.Endpoint, endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) { return open() }
	pass := func() snapshot.PassRecord {
		t.Helper()
		o := e.options()
		o.Caches = []syncer.Committer{caches["local"], caches["remote"]}
		rec, err := syncer.Pass(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range caches {
			if err := c.CommitLearned(); err != nil {
				t.Fatal(err)
			}
		}
		return rec
	}
	if rec := pass(); rec.Created < files {
		t.Fatalf("the first sync created %d, want at least %d", rec.Created, files)
	}
	t.Logf("the caches held at most %d records", most.Load())
	if m := most.Load(); m > batch {
		t.Errorf("a cache held %d records at once during a first sync in batches of %d", m, batch)
	}
	before := readSyscalls(t)
	rec := pass()
	reads := readSyscalls(t) - before
	if rec.Created+rec.Updated+rec.Deleted != 0 {
		t.Fatalf("the pass after the first sync did something: %+v", rec)
	}
	t.Logf("%d read calls in the pass after the first sync", reads)
	if reads > files/3 {
		t.Errorf("the pass after the first sync made %d read calls for %d files on each side: it read them again", reads, files)
	}
}
