//go:build unix

package syncer_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cespare/xxhash/v2"

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

// TestInterruptedFirstSyncLeavesNoWrongRecord: a batched first sync
// stopped part way (its scans never committed) leaves in both scan caches,
// after CommitLearned, only records a file's content matches: a record
// whose lstat is the file's has the file's hash; and it leaves the ones
// it wrote as it went, so the pass that takes over reads fewer files.
func TestInterruptedFirstSyncLeavesNoWrongRecord(t *testing.T) {
	e := newEnv(t)
	e.job.Direction = config.LocalToRemote
	const files, batch, held, stopAt = 1500, 200, 100, 700
	e.firstBatch = batch
	for i := range files {
		e.write("local", fmt.Sprintf("d%02d/f%04d", i%23, i), strings.Repeat(fmt.Sprint(i), 1+i%9))
	}
	caches := map[string]*snapshot.Cache{}
	var eps []endpoint.Endpoint
	for _, side := range []string{"local", "remote"} {
		c, err := e.db.Cache(side)
		if err != nil {
			t.Fatal(err)
		}
		c.HoldAtMost(held)
		caches[side] = c
		f, err := localfs.New(e.root(side), localfs.Options{Cache: c, Chunks: c, HashWorkers: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		eps = append(eps, f)
	}
	e.wrap = func(endpoint.Endpoint, endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
		return eps[0], eps[1]
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var done atomic.Int64
	o := e.options()
	o.Caches = []syncer.Committer{caches["local"], caches["remote"]}
	o.Observer = func(ev syncer.Event) {
		if ev.FileDone && ev.Err == nil && done.Add(1) == stopAt {
			cancel()
		}
	}
	rec, err := syncer.Pass(ctx, o)
	if err == nil && !rec.Interrupted {
		t.Fatalf("the pass was not interrupted: %+v", rec)
	}
	trusted := 0
	for side, c := range caches {
		if err := c.CommitLearned(); err != nil {
			t.Fatal(err)
		}
		err := filepath.WalkDir(e.root(side), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			rel, _ := filepath.Rel(e.root(side), p)
			got, ok := c.Lookup(filepath.ToSlash(rel))
			fi, serr := os.Lstat(p)
			if !ok || serr != nil {
				return serr
			}
			st := fi.Sys().(*syscall.Stat_t)
			if got.Ino != st.Ino || got.Size != fi.Size() || got.Mtime != fi.ModTime().UnixNano() || got.Mode != fi.Mode().Perm() {
				return nil // not trusted: the scan reads it
			}
			trusted++
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if got.Hash != xxhash.Sum64(data) {
				t.Errorf("the %s cache has %s with hash %016x; its content hashes to %016x", side, rel, got.Hash, xxhash.Sum64(data))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d files done before the interruption, %d records trusted", done.Load(), trusted)
	if trusted < 2*stopAt {
		t.Errorf("the caches hold %d records that match their files, want at least %d (the files copied, on both sides)", trusted, 2*stopAt)
	}
}
