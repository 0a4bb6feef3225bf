package snapshot

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ferry-sync/ferry/tree"
)

var cacheSeed = flag.Uint64("cache.seed", 0, "seed of TestCacheMatchesItsModel (0: from the clock)")

// scanTree returns n hashed files in scan order, in directories of 37, with
// names that sort differently by bytes and by number (f10 < f2), so windows
// and directories do not line up.
func scanTree(n int) []tree.Entry {
	es := make([]tree.Entry, n)
	for i := range es {
		es[i] = tree.Entry{Path: fmt.Sprintf("d%d/f%d", i/37, i%37), Kind: tree.File,
			Size: int64(100 + i), Mtime: 1_700_000_000_000_000_000 + int64(i), Mode: 0o644, Ino: uint64(i) + 9, Hash: uint64(i)*0x9e3779b97f4a7c15 | 1}
	}
	slices.SortFunc(es, func(a, b tree.Entry) int { return tree.Compare(a.Path, b.Path) })
	return es
}

// stored returns the side's bucket as it is in the file, by path.
func stored(t *testing.T, db *DB, side string) map[string]tree.Entry {
	t.Helper()
	got := map[string]tree.Entry{}
	err := db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(cachePrefix + side))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			e, err := parseStoredEntry(k, v)
			got[e.Path] = e
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func pageWrites(db *DB) int64 { st := db.bolt.Stats(); return st.TxStats.GetWrite() }

// storeAll stores es in c and commits.
func storeAll(t *testing.T, c *Cache, es []tree.Entry) {
	t.Helper()
	for _, e := range es {
		c.Store(e)
	}
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
}

// mustEqualBucket fails unless the side's bucket holds exactly want.
func mustEqualBucket(t *testing.T, db *DB, side string, want []tree.Entry) {
	t.Helper()
	got := stored(t, db, side)
	for _, e := range want {
		if g, ok := got[e.Path]; !ok || g != e {
			t.Fatalf("bucket has %s as %+v (%v); want %+v", e.Path, g, ok, e)
		}
		delete(got, e.Path)
	}
	for p := range got {
		t.Fatalf("bucket still has %s (%d others left over)", p, len(got)-1)
	}
}

// TestNoChangeRescanHoldsNoRecordPerFile: a rescan that finds every file
// as it was keeps nothing per file in memory (the cache used to hold two
// maps of every file, about 216 bytes each), and its Commit writes nothing.
func TestNoChangeRescanHoldsNoRecordPerFile(t *testing.T) {
	const n = 50_000
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	es := scanTree(n)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	storeAll(t, c, es)
	before := pageWrites(db)

	var m0, m1 runtime.MemStats
	runtime.GC() // twice: sync.Pools let go of their objects in two
	runtime.GC()
	runtime.ReadMemStats(&m0)
	c2, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if got, ok := c2.Lookup(e.Path); !ok || got != e {
			t.Fatalf("Lookup(%s) = %+v, %v; want %+v", e.Path, got, ok, e)
		}
		c2.Store(e)
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	perFile := float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / n
	t.Logf("%.1f heap bytes per file", perFile)
	if perFile > 50 {
		t.Errorf("a no-change rescan of %d files holds %.1f heap bytes per file; want at most 50", n, perFile)
	}
	if err := c2.Commit(); err != nil {
		t.Fatal(err)
	}
	if w := pageWrites(db); w != before {
		t.Errorf("a no-change commit wrote %d pages", w-before)
	}
	mustEqualBucket(t, db, "local", es)
}

// TestCacheLookupOutOfOrder: Lookup answers right whatever the order of
// the paths asked, forward across windows, backwards, repeated, and for
// paths the cache does not hold, before and after a Commit.
func TestCacheLookupOutOfOrder(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	es := scanTree(3*maxWindow + 77)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	storeAll(t, c, es)
	rng := rand.New(rand.NewPCG(1, 2))
	order := rng.Perm(len(es))
	check := func(i int) {
		t.Helper()
		e := es[i]
		if got, ok := c.Lookup(e.Path); !ok || got != e {
			t.Fatalf("Lookup(%s) = %+v, %v; want %+v", e.Path, got, ok, e)
		}
		for _, miss := range []string{e.Path + "x", e.Path + "/under", strings.TrimSuffix(e.Path, "0") + "00"} {
			if got, ok := c.Lookup(miss); ok && miss != e.Path {
				t.Fatalf("Lookup(%s) found %+v", miss, got)
			}
		}
	}
	for _, i := range order {
		check(i)
	}
	for i := len(es) - 1; i >= 0; i -= 3 {
		check(i)
	}
	for i := range es {
		check(i)
		check(i)
		check(i / 2) // behind, then forward again
	}
	if _, ok := c.Lookup("a"); ok {
		t.Fatal("Lookup before the first key found something")
	}
	if _, ok := c.Lookup("z"); ok {
		t.Fatal("Lookup past the last key found something")
	}
	// What a scan stored is found before the Commit, out of order too.
	changed := es[len(es)/2]
	changed.Hash++
	c.Store(changed)
	if got, _ := c.Lookup(changed.Path); got != changed {
		t.Fatalf("Lookup after Store = %+v; want %+v", got, changed)
	}
	c.Store(es[0]) // goes backwards: a new run
	if got, _ := c.Lookup(changed.Path); got != changed {
		t.Fatalf("Lookup after a backward Store = %+v; want %+v", got, changed)
	}
}

// TestCacheDeletionsAtStartMiddleAndEnd: the records a rescan did not store
// again are dropped wherever they are, before its first Store, between two
// Stores (one or more windows' worth), after its last; and the rest stay.
func TestCacheDeletionsAtStartMiddleAndEnd(t *testing.T) {
	es := scanTree(4*maxWindow + 10)
	n := len(es)
	for _, tc := range []struct {
		name string
		gone func(i int) bool
	}{
		{"first", func(i int) bool { return i == 0 }},
		{"start", func(i int) bool { return i < 40 }},
		{"one in the middle", func(i int) bool { return i == n/2 }},
		{"every third", func(i int) bool { return i%3 == 1 }},
		{"two windows in the middle", func(i int) bool { return i > maxWindow/2 && i < 5*maxWindow/2 }},
		{"last", func(i int) bool { return i == n-1 }},
		{"end", func(i int) bool { return i > n-maxWindow-3 }},
		{"start, middle and end", func(i int) bool { return i < 3 || (i > n/3 && i < n/3+5) || i >= n-2 }},
		{"all but one", func(i int) bool { return i != n/3 }},
		{"all", func(int) bool { return true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
			c, err := db.Cache("local")
			if err != nil {
				t.Fatal(err)
			}
			storeAll(t, c, es)
			var kept []tree.Entry
			for i, e := range es {
				if !tc.gone(i) {
					kept = append(kept, e)
				}
			}
			for _, e := range kept {
				if got, ok := c.Lookup(e.Path); !ok || got != e {
					t.Fatalf("Lookup(%s) = %+v, %v", e.Path, got, ok)
				}
				c.Store(e)
			}
			if err := c.Commit(); err != nil {
				t.Fatal(err)
			}
			mustEqualBucket(t, db, "local", kept)
			for i, e := range es {
				if _, ok := c.Lookup(e.Path); ok == tc.gone(i) {
					t.Fatalf("after Commit, Lookup(%s) = %v; gone: %v", e.Path, ok, tc.gone(i))
				}
			}
		})
	}
}

// TestCacheScanGivenUpThenFullScan: a scan that stopped part way without a
// Commit, then a full scan: the full scan's changes are committed, and the
// records that neither stored are dropped, at the start, in the middle and
// at the end. What only the first one stored is kept, as before the cache
// followed a cursor (Commit keeps every record stored since the last one),
// until the next scan does not store it again; the files both saw as the
// cache had them are not rewritten.
func TestCacheScanGivenUpThenFullScan(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	es := scanTree(3*maxWindow + 5)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	storeAll(t, c, es)

	// The first scan gets half way, finding one file changed and one
	// new, and is given up.
	half := len(es) / 2
	changed := es[10]
	changed.Mtime++
	newer := tree.Entry{Path: es[20].Path + "-new", Kind: tree.File, Size: 3, Mode: 0o600, Hash: 77}
	for i, e := range es[:half] {
		if i == 10 {
			e = changed
		}
		c.Lookup(e.Path)
		c.Store(e)
		if i == 20 {
			c.Lookup(newer.Path)
			c.Store(newer)
		}
	}
	// The full scan: nothing changed since, but files deleted at the start
	// and in the middle (some the first scan stored: 0, half-1, newer;
	// some it did not reach: half+1) and at the end.
	gone := func(i int) bool { return i < 2 || i == half-1 || i == half+1 || i > len(es)-4 }
	var full, onlyFirst []tree.Entry
	for i, e := range es {
		if i == 10 {
			e = changed
		}
		if gone(i) {
			if i < half {
				onlyFirst = append(onlyFirst, e)
			}
			continue
		}
		if got, ok := c.Lookup(e.Path); !ok || got != e {
			t.Fatalf("full scan: Lookup(%s) = %+v, %v; want %+v", e.Path, got, ok, e)
		}
		c.Store(e)
		full = append(full, e)
	}
	onlyFirst = append(onlyFirst, newer)
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	mustEqualBucket(t, db, "local", append(slices.Clone(full), onlyFirst...))

	// The next full scan drops them; before it, two more scans given up,
	// one after the other.
	for _, e := range full[:5] {
		c.Store(e)
	}
	for _, e := range full[:len(full)/2] {
		c.Store(e)
	}
	storeAll(t, c, full)
	mustEqualBucket(t, db, "local", full)

	// Then the same again with nothing changed: nothing written.
	for _, e := range full[:len(full)/3] {
		c.Store(e)
	}
	before := pageWrites(db)
	storeAll(t, c, full)
	if w := pageWrites(db); w != before {
		t.Fatalf("a no-change commit after a scan given up wrote %d pages", w-before)
	}
	mustEqualBucket(t, db, "local", full)
}

// TestCacheScanAlongsideWritersAndChunkReaders: a scan's Lookups run ahead
// of its Stores in other goroutines while chunk lists are stored, loaded
// and searched and the database grows under other write transactions; no
// read transaction is held between calls, so nothing waits on another
// (run with -race).
func TestCacheScanAlongsideWritersAndChunkReaders(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	es := scanTree(2*maxWindow + 300)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	storeAll(t, c, es)
	want := slices.Clone(es)
	for i := range want {
		if i%97 == 5 {
			want[i].Hash++
		}
	}
	big, l := listOf(t, "d0/big", 2<<20, 3)

	items := make(chan tree.Entry, 64)
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { // the walker
		defer wg.Done()
		defer close(items)
		for i, e := range want {
			got, ok := c.Lookup(e.Path)
			if !ok || got != es[i] {
				t.Errorf("Lookup(%s) = %+v, %v; want %+v", e.Path, got, ok, es[i])
			}
			items <- e
		}
	}()
	go func() { // the visitor
		defer wg.Done()
		for e := range items {
			c.Store(e)
		}
	}()
	go func() { // chunk lists, from the hash workers and the engine
		defer wg.Done()
		for range 20 {
			if err := c.StoreChunks(big, l); err != nil {
				t.Error(err)
			}
			if _, _, _, err := c.LoadChunks(big.Path); err != nil {
				t.Error(err)
			}
			if err := c.SaveChunks(big, l); err != nil {
				t.Error(err)
			}
		}
	}()
	go func() { // another writer that grows the file
		defer wg.Done()
		w := db.Writer()
		target := strings.Repeat("t", 4000)
		for i := range 600 {
			if err := w.Record(tree.Entry{Path: fmt.Sprintf("x/l%d", i), Kind: tree.Symlink, Target: target}); err != nil {
				t.Error(err)
				return
			}
			if i%50 == 0 {
				if err := w.Flush(); err != nil {
					t.Error(err)
					return
				}
			}
		}
		if err := w.Flush(); err != nil {
			t.Error(err)
		}
	}()
	wg.Wait()
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	mustEqualBucket(t, db, "local", want)
}

// TestCacheMatchesItsModel drives a cache through random scans (in order,
// shuffled, given up part way, with files appearing, changing and going)
// and checks every Lookup and every committed bucket against a model of
// the cache as two maps: the committed records and those stored since.
// A Commit that changes nothing must write nothing.
func TestCacheMatchesItsModel(t *testing.T) {
	seed := *cacheSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -cache.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 99))
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	// Scans write what they hold before Commit, often: the model sees
	// no difference.
	c.heldMax, c.flushAt = 300, 300
	universe := scanTree(3*maxWindow + 200)
	present := make([]bool, len(universe))
	version := make([]int64, len(universe))
	committed := map[string]tree.Entry{}
	since := map[string]tree.Entry{}
	entryOf := func(i int) tree.Entry {
		e := universe[i]
		e.Mtime += version[i]
		e.Hash += uint64(version[i]) << 8
		return e
	}
	for round := range 40 {
		// Change the tree: each file may come, go or change, and now and
		// then a whole stretch goes.
		p := []float64{0.01, 0.1, 0.5}[rng.IntN(3)]
		for i := range universe {
			if rng.Float64() < p {
				switch rng.IntN(3) {
				case 0:
					present[i] = !present[i]
				default:
					version[i]++
				}
			}
		}
		if rng.IntN(5) == 0 {
			from := rng.IntN(len(universe))
			for i := from; i < min(len(universe), from+rng.IntN(2*maxWindow)); i++ {
				present[i] = false
			}
		}
		var scan []tree.Entry
		for i := range universe {
			if present[i] {
				scan = append(scan, entryOf(i))
			}
			if rng.IntN(50) == 0 { // a directory or a file with a problem: never kept
				scan = append(scan, tree.Entry{Path: universe[i].Path, Kind: tree.File, Problem: "EIO"})
			}
		}
		switch rng.IntN(10) {
		case 0:
			rng.Shuffle(len(scan), func(i, j int) { scan[i], scan[j] = scan[j], scan[i] })
		case 1:
			for range 5 {
				if len(scan) > 1 {
					i := rng.IntN(len(scan) - 1)
					scan[i], scan[i+1] = scan[i+1], scan[i]
				}
			}
		}
		givenUp := rng.IntN(4) == 0
		if givenUp && len(scan) > 0 {
			scan = scan[:rng.IntN(len(scan))]
		}
		lookup := func(path string) {
			want, ok := since[path]
			if !ok {
				want, ok = committed[path]
			}
			got, gotOK := c.Lookup(path)
			if gotOK != ok || (ok && got != want) {
				t.Fatalf("round %d: Lookup(%s) = %+v, %v; want %+v, %v", round, path, got, gotOK, want, ok)
			}
		}
		for _, e := range scan {
			lookup(e.Path)
			if rng.IntN(20) == 0 {
				lookup(universe[rng.IntN(len(universe))].Path)
			}
			c.Store(e)
			if e.Problem == "" {
				since[e.Path] = e
			}
		}
		if givenUp {
			continue
		}
		before := pageWrites(db)
		if err := c.Commit(); err != nil {
			t.Fatal(err)
		}
		unchanged := maps.Equal(committed, since)
		committed, since = since, map[string]tree.Entry{}
		if w := pageWrites(db); unchanged && w != before {
			t.Fatalf("round %d: a commit that changed nothing wrote %d pages", round, w-before)
		}
		if got := stored(t, db, "local"); !maps.Equal(got, committed) {
			t.Fatalf("round %d: bucket has %d records, the model %d", round, len(got), len(committed))
		}
	}
}

// TestCacheCommitFillsPages: a first scan's records are written in key
// order into pages filled to 90 %, not the half that bbolt leaves by
// default, so a rescan (which reads every record) touches about half the
// pages.
func TestCacheCommitFillsPages(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	storeAll(t, c, scanTree(20_000))
	err = db.view(func(tx *bolt.Tx) error {
		s := tx.Bucket([]byte(cachePrefix + "local")).Stats()
		if ratio := float64(s.LeafInuse) / float64(s.LeafAlloc); ratio < 0.8 {
			t.Errorf("leaf pages are %.0f %% used, want at least 80 %%", 100*ratio)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
