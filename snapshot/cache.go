package snapshot

import (
	"bytes"
	"fmt"
	"io/fs"
	"slices"
	"sync"

	"github.com/ferry-sync/ferry/tree"
	bolt "go.etcd.io/bbolt"
)

// Cache is one side's scan cache: the stat and hash each path had at the
// last scan, so an unchanged file need not be hashed again, and the chunk
// lists of its large files (StoreChunks, LoadChunks). Its methods are safe
// for concurrent use.
//
// The cache is not held in memory: Lookup and Store each follow the bucket
// with a cursor that reads a bounded window of records at a time, each
// window in its own short read transaction, and only what differs from the
// bucket (files new or changed, files gone) is kept until Commit. A scan
// calls both in scan order (key order), so each window is read once;
// going backwards costs a seek, not a wrong answer.
type Cache struct {
	db     *DB
	bucket []byte
	chunks []byte // the side's chunk list bucket

	mu sync.Mutex
	// look is Lookup's cursor; del is Store's, which also notes the
	// records Store passes without storing them again.
	look, del window
	// puts holds the records stored since the last Commit that are not in
	// the bucket as they are, by path.
	puts map[string]cached
	// runs are the increasing runs of Store calls since the last Commit,
	// the last one under way: a scan is one run, a second scan without a
	// Commit starts another.
	runs []*storeRun
	// scope limits what Commit may drop to the scopes of the scans since
	// the last Commit (see Scope); the zero Scope is the whole tree.
	// scoped says a scan was scoped, whole that one was not.
	scope         tree.Scope
	scoped, whole bool
	// runRoot is the scope root the last Store's path lies in: a scoped
	// scan's Stores start a new run at each root, so that Store's cursor
	// seeks over the tree between roots instead of reading it.
	runRoot string
	// err is a failure to read the bucket while Store followed it, which
	// leaves the runs incomplete; Commit reports it and writes nothing.
	err error
	// Scratch space for the key and record Lookup and Store compare.
	lookKey, storeKey, storeEntry, storeRec []byte

	// learned holds the hashes learned outside a scan (Learn), by path,
	// until a scan stores them again or they are written (maxHeld, or
	// CommitLearned). A hash learned while a scan is under way goes to
	// puts instead (see Learn).
	learned map[string]cached
	// scanning: a scan began (Scope) and was not committed yet.
	scanning bool
	// flushAt is the size of puts at which Store writes the records it
	// may write before Commit (see flushPuts); heldMax is maxHeld but in
	// tests.
	flushAt, heldMax int

	// pending holds chunk lists stored and not yet written, by path, as
	// they will be stored; pendingBytes is their size.
	pending      map[string][]byte
	pendingBytes int
}

// storeRun is one increasing run of Store calls: the keys of its first and
// last Store, and the keys of the bucket between them that it passed
// without storing them again (files gone, or no longer cached), in order.
type storeRun struct {
	first, last []byte
	gone        [][]byte
}

// covers reports whether k lies between the run's first and last Store.
func (r *storeRun) covers(k []byte) bool {
	return bytes.Compare(r.first, k) <= 0 && bytes.Compare(k, r.last) <= 0
}

// passed reports whether the run passed k without storing it.
func (r *storeRun) passed(k []byte) bool {
	_, found := slices.BinarySearchFunc(r.gone, k, bytes.Compare)
	return found
}

// maxHeld bounds the records the cache holds in memory between writes:
// the records a scan stored (puts) and the hashes learned outside a scan.
// A first sync of a million files stores or learns a million records; held
// until the end of the pass they cost some 100 bytes each. Past maxHeld
// they are written in one transaction (two fsyncs), a few hundred times
// for a million files.
const maxHeld = 8192

// Window sizes, in records: a window read after a seek starts small, so
// that a caller jumping about reads little, and grows while the caller
// goes on in order, to bound the number of read transactions.
const (
	minWindow = 32
	maxWindow = 1024
)

// Cache opens the scan cache of side ("local", "remote" or any other name).
// It reads nothing yet: Lookup reads the records as it needs them.
func (db *DB) Cache(side string) (*Cache, error) {
	if side == "" {
		return nil, fmt.Errorf("unable to open scan cache: empty side name")
	}
	return &Cache{
		db: db, bucket: []byte(cachePrefix + side), chunks: []byte(chunksPrefix + side),
		puts: map[string]cached{}, pending: map[string][]byte{}, flushAt: maxHeld, heldMax: maxHeld,
	}, nil
}

// cached is what the cache keeps of a file: its lstat and hash, 40 bytes
// where a tree.Entry takes 96. Only hashed regular files are kept: nothing
// else has a hash to reuse.
type cached struct {
	size, mtime int64
	ino, hash   uint64
	mode        fs.FileMode
}

func cachedOf(e tree.Entry) (cached, bool) {
	if e.Kind != tree.File || e.Hash == 0 || e.Problem != "" {
		return cached{}, false
	}
	return cached{size: e.Size, mtime: e.Mtime, ino: e.Ino, hash: e.Hash, mode: e.Mode}, true
}

func (c cached) entry(path string) tree.Entry {
	return tree.Entry{Path: path, Kind: tree.File, Size: c.size, Mtime: c.mtime, Mode: c.mode, Hash: c.hash, Ino: c.ino}
}

// parseCached decodes a stored cache record; ok is false for one that is
// damaged or holds nothing the cache keeps (Open checks every record, so
// that is rare: the file is then hashed again and the record replaced).
func parseCached(k, stored []byte) (cached, bool) {
	v, err := ParseRecord(k, stored)
	if err != nil {
		return cached{}, false
	}
	e, n, err := ParseEntry(v)
	if err != nil || n != len(v) {
		return cached{}, false
	}
	return cachedOf(e)
}

// window is a stretch of consecutive records of a bucket, copied out of
// one short read transaction: a cursor that holds no transaction between
// calls, so a write that grows the file never waits on it.
type window struct {
	recs []rec
	buf  []byte // the keys and values recs point into
	offs []int  // where each key and value ends in buf, while reading
	// from is the key the stretch was read from, every key of the bucket
	// from it up to the last of recs is in recs, and end says the stretch
	// reaches the end of the bucket.
	from  []byte
	end   bool
	valid bool
	i     int // the first record not yet passed
	n     int // how many records the next read takes
}

type rec struct{ k, v []byte }

// read fills w with up to w.n records of bucket from key from on (from
// the first key when from is empty), skipping from itself when after is
// set. from may point into w.
func (w *window) read(db *DB, bucket, from []byte, after bool) error {
	w.from = append(w.from[:0], from...)
	w.recs, w.buf, w.offs, w.i = w.recs[:0], w.buf[:0], w.offs[:0], 0
	w.end, w.valid = true, false
	err := db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil {
			return nil
		}
		cur := b.Cursor()
		var k, v []byte
		if len(w.from) == 0 {
			k, v = cur.First()
		} else {
			k, v = cur.Seek(w.from)
		}
		if after && k != nil && bytes.Equal(k, w.from) {
			k, v = cur.Next()
		}
		for ; k != nil && len(w.offs) < 2*w.n; k, v = cur.Next() {
			w.buf = append(w.buf, k...)
			w.offs = append(w.offs, len(w.buf))
			w.buf = append(w.buf, v...)
			w.offs = append(w.offs, len(w.buf))
		}
		w.end = k == nil
		return nil
	})
	if err != nil {
		w.recs, w.end = w.recs[:0], true
		return err
	}
	start := 0
	for j := 0; j < len(w.offs); j += 2 {
		ke, ve := w.offs[j], w.offs[j+1]
		w.recs = append(w.recs, rec{k: w.buf[start:ke:ke], v: w.buf[ke:ve:ve]})
		start = ve
	}
	w.valid = true
	return nil
}

// grow makes the next read larger, for a caller going on in order.
func (w *window) grow() { w.n = min(max(w.n*4, minWindow), maxWindow) }

// Lookup returns what the last scan recorded for path, a hashed regular
// file (anything else is not kept): what was stored since the last Commit,
// or else the bucket's record.
func (c *Cache) Lookup(path string) (tree.Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.puts) > 0 {
		if e, ok := c.puts[path]; ok {
			return e.entry(path), true
		}
	}
	if len(c.learned) > 0 {
		if e, ok := c.learned[path]; ok {
			return e.entry(path), true
		}
	}
	k := appendKey(c.lookKey[:0], path)
	c.lookKey = k
	w := &c.look
	switch {
	case !w.valid || bytes.Compare(k, w.from) < 0:
		// The first Lookup since Commit, or one going backwards: seek.
		w.n = minWindow
		if w.read(c.db, c.bucket, k, false) != nil {
			return tree.Entry{}, false // a miss costs a hash, not an error
		}
	case !w.end && (len(w.recs) == 0 || bytes.Compare(k, w.recs[len(w.recs)-1].k) > 0):
		// Past the window: read on from k, skipping what lies between.
		w.grow()
		if w.read(c.db, c.bucket, k, false) != nil {
			return tree.Entry{}, false
		}
	}
	j := w.i
	if j >= len(w.recs) || !bytes.Equal(w.recs[j].k, k) {
		var found bool
		if j, found = slices.BinarySearchFunc(w.recs, k, func(r rec, k []byte) int { return bytes.Compare(r.k, k) }); !found {
			w.i = j
			return tree.Entry{}, false
		}
	}
	w.i = j + 1
	ce, ok := parseCached(w.recs[j].k, w.recs[j].v)
	if !ok {
		return tree.Entry{}, false
	}
	return ce.entry(path), true
}

// Store records this scan's stat and hash of e.Path. Only hashed regular
// files are kept; entries with a problem or an invalid path are ignored:
// they describe nothing worth reusing. A Store that does not go on from
// the previous one in key order starts a new run (see Commit).
//
// A scan of the whole tree stores every entry it lists, cached or not
// (Stat does not): an entry with nothing to keep (a directory, a file
// listed unhashed or with a problem) moves the cursor on and drops the
// path's record in the bucket, so the cache knows how far the scan has got. That is
// what lets a hash learned meanwhile (Learn) be written before Commit,
// and lets Commit tell the records the scan saw from those learned after
// it passed them.
func (c *Cache) Store(e tree.Entry) {
	if tree.ValidPath(e.Path) != nil {
		return
	}
	ce, ok := cachedOf(e)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !ok && !c.limited().Whole() {
		// A scoped scan's context directories lie outside its roots;
		// its runs follow only what it stores.
		return
	}
	k := appendKey(c.storeKey[:0], e.Path)
	c.storeKey = k
	var record []byte
	if ok {
		c.storeEntry = AppendEntry(c.storeEntry[:0], ce.entry(e.Path))
		c.storeRec = AppendRecord(c.storeRec[:0], k, c.storeEntry)
		record = c.storeRec
	}
	var run *storeRun
	sameRoot := true
	if scope := c.limited(); !scope.Whole() {
		root, _ := scope.RootOf(e.Path)
		sameRoot = root == c.runRoot
		c.runRoot = root
	}
	if n := len(c.runs); sameRoot && n > 0 && bytes.Compare(c.runs[n-1].last, k) < 0 {
		run = c.runs[n-1]
	} else {
		run = &storeRun{first: bytes.Clone(k)}
		c.runs = append(c.runs, run)
		c.del.n = minWindow
		if err := c.del.read(c.db, c.bucket, k, false); err != nil {
			c.fail(err)
		}
	}
	run.last = append(run.last[:0], k...)
	switch {
	case c.passTo(run, k, record):
		delete(c.puts, e.Path)
	case ok:
		c.puts[e.Path] = ce
	}
	if len(c.puts) >= c.flushAt {
		c.flushPuts()
	}
}

// passTo moves Store's cursor up to k, noting in run the keys it passes,
// and reports whether the bucket holds record under k. A nil record is an
// entry with nothing to keep: its key, if the bucket has it, is noted as
// passed too. The caller holds c.mu.
func (c *Cache) passTo(run *storeRun, k, record []byte) bool {
	w := &c.del
	for {
		if w.i == len(w.recs) {
			if w.end {
				return false
			}
			w.grow()
			if err := w.read(c.db, c.bucket, w.recs[len(w.recs)-1].k, true); err != nil {
				c.fail(err)
				return false
			}
			continue
		}
		r := w.recs[w.i]
		switch cmp := bytes.Compare(r.k, k); {
		case cmp < 0:
			run.gone = append(run.gone, bytes.Clone(r.k))
			w.i++
		case cmp == 0:
			w.i++
			if record == nil {
				run.gone = append(run.gone, bytes.Clone(r.k))
				return false
			}
			return bytes.Equal(r.v, record)
		default:
			return false
		}
	}
}

// fail keeps the first error Store met; the caller holds c.mu.
func (c *Cache) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// Scope tells the cache that the scan about to Store lists only scope (a
// scoped pass's scan, see endpoint.ScanOptions.Within): Commit then drops
// no record outside it, as such a scan passes over the rest of the tree
// without seeing it. Scans since the last Commit add up: if one of them
// listed the whole tree (no Scope, or the whole Scope), Commit sweeps as
// usual.
func (c *Cache) Scope(scope tree.Scope) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scanning = true
	if scope.Whole() || len(c.runs) > 0 && !c.scoped {
		c.whole = true
		if scope.Whole() {
			// The scan starts at the first key: what lies before its
			// first entry it has passed (see Scanned).
			c.runs = append(c.runs, &storeRun{first: []byte{}})
			c.del.n = minWindow
			if err := c.del.read(c.db, c.bucket, nil, false); err != nil {
				c.fail(err)
			}
		}
		return
	}
	if c.scoped {
		scope = tree.NewScope(append(slices.Clone(c.scope.Roots()), scope.Roots()...))
	}
	c.scope, c.scoped = scope, true
}

// endKey is above every key: paths are UTF-8, which has no byte 0xff.
var endKey = []byte{0xff}

// Scanned tells the cache that the whole scan under way listed the whole
// tree: every path it did not Store is gone. Its run then covers the whole
// key space, so that the hashes learned from here to Commit (files the
// pass wrote) are written with the scan's records, at once or by Commit,
// and Commit's sweep, which they are newer than, leaves them. A scoped
// scan's Scanned does nothing.
func (c *Cache) Scanned() {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.runs)
	if n == 0 || !c.limited().Whole() || c.err != nil {
		return
	}
	run := c.runs[n-1]
	c.passTo(run, endKey, nil)
	run.last = append(run.last[:0], endKey...)
	if len(c.puts) >= c.flushAt {
		c.flushPuts()
	}
}

// limited returns the scope Commit keeps to: the whole tree unless every
// scan since the last Commit was scoped. The caller holds c.mu.
func (c *Cache) limited() tree.Scope {
	if c.whole || !c.scoped {
		return tree.Scope{}
	}
	return c.scope
}

// reset forgets the runs and puts, for the next scan; the caller holds c.mu.
func (c *Cache) reset() {
	c.scope, c.scoped, c.whole, c.runRoot = tree.Scope{}, false, false, ""
	c.scanning, c.flushAt = false, c.heldMax
	c.puts = map[string]cached{} // not clear: a first scan's map is large
	c.runs, c.err = nil, nil
	c.look.valid, c.del.valid = false, false
	c.look.recs, c.del.recs = c.look.recs[:0], c.del.recs[:0]
}

// gap is a stretch of keys no Store run covered: strictly after after (or
// from the first key when after is nil) and strictly before before (or to
// the end when before is nil).
type gap struct{ after, before []byte }

// gaps returns the stretches of the key space no run covered: all of it
// when there was no Store since the last Commit.
func (c *Cache) gaps() []gap {
	runs := slices.Clone(c.runs)
	slices.SortFunc(runs, func(a, b *storeRun) int { return bytes.Compare(a.first, b.first) })
	var gs []gap
	var upTo []byte // the last key covered so far; nil: none yet
	for _, r := range runs {
		switch {
		case upTo == nil:
			gs = append(gs, gap{before: r.first})
			upTo = r.last
		case bytes.Compare(r.first, upTo) > 0:
			gs = append(gs, gap{after: upTo, before: r.first})
			upTo = r.last
		case bytes.Compare(r.last, upTo) > 0:
			upTo = r.last
		}
	}
	return append(gs, gap{after: upTo})
}

// sweep calls fn with every key of b in g, in order.
func (g gap) sweep(b *bolt.Bucket, fn func(k []byte) bool) {
	cur := b.Cursor()
	var k []byte
	if g.after == nil {
		k, _ = cur.First()
	} else if k, _ = cur.Seek(g.after); k != nil && bytes.Equal(k, g.after) {
		k, _ = cur.Next()
	}
	for ; k != nil && (g.before == nil || bytes.Compare(k, g.before) < 0); k, _ = cur.Next() {
		if !fn(k) {
			return
		}
	}
}

// sweepGaps calls fn with every key of b in gaps that lies in scope, in
// order, until fn returns false. A scoped sweep seeks to each of the
// scope's roots, so it costs what the scope holds, not the bucket.
func sweepGaps(b *bolt.Bucket, gaps []gap, scope tree.Scope, fn func(k []byte) bool) {
	if scope.Whole() {
		for _, g := range gaps {
			more := true
			g.sweep(b, func(k []byte) bool { more = fn(k); return more })
			if !more {
				return
			}
		}
		return
	}
	inGap := func(k []byte) bool {
		for _, g := range gaps {
			if (g.after == nil || bytes.Compare(g.after, k) < 0) && (g.before == nil || bytes.Compare(k, g.before) < 0) {
				return true
			}
		}
		return false
	}
	cur := b.Cursor()
	var key, below []byte
	for _, root := range scope.Roots() {
		key = appendKey(key[:0], root)
		below = append(append(below[:0], key...), 0)
		for k, _ := cur.Seek(key); k != nil && (bytes.Equal(k, key) || bytes.HasPrefix(k, below)); k, _ = cur.Next() {
			if inGap(k) && !fn(k) {
				return
			}
		}
	}
}

// passedOver returns the keys that runs passed without storing them and
// that no other run stored: a key a run covers and did not pass was
// stored by it.
func (c *Cache) passedOver() [][]byte {
	var gone [][]byte
	for i, r := range c.runs {
	keys:
		for _, k := range r.gone {
			for j, o := range c.runs {
				if j == i || !o.covers(k) {
					continue
				}
				if j < i || !o.passed(k) {
					// An earlier run decided k already, or a later one
					// stored it.
					continue keys
				}
			}
			gone = append(gone, k)
		}
	}
	return gone
}

// Commit makes the bucket what the Stores since the last Commit (or since
// Cache) saw, in one transaction: the records stored are written where they
// differ, and every record no Store stored again (deleted files) is
// dropped. The same transaction writes the chunk lists still buffered and
// drops the lists of files that are gone or changed. After Commit, a new
// scan may begin.
//
// Only differences are kept and written: a rescan that found nothing new
// writes nothing, where rewriting the whole bucket cost 0.4 s per pass at
// 100k files. A scan's Stores run in key order, so the records it did not
// store are those its cursor passed (kept as it goes) and those before its
// first Store or after its last (swept here). Stores that went backwards
// (a scan given up without Commit, then another) form several runs: a
// record is dropped only when none of them stored it.
func (c *Cache) Commit() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	// What was learned inside the scan's scope, the scan stored again if
	// it still holds (its Lookup found it) or saw changed.
	if scope := c.limited(); len(c.learned) > 0 {
		for p := range c.learned {
			if scope.Whole() || scope.InSubtree(p) {
				delete(c.learned, p)
			}
		}
	}
	if c.err != nil {
		err := c.err
		c.reset()
		return fmt.Errorf("unable to read %s from %s: %w", c.bucket, c.db.path, err)
	}
	gone := c.passedOver()
	gaps := c.gaps()
	scope := c.limited()
	if !scope.Whole() {
		gone = slices.DeleteFunc(gone, func(k []byte) bool { return !scope.InSubtree(keyPath(k)) })
	}
	swept := false
	if len(gone) == 0 && len(c.puts) == 0 && len(c.pending) == 0 {
		// Most likely nothing changed: look before taking a write lock.
		err := c.db.view(func(tx *bolt.Tx) error {
			if b := tx.Bucket(c.bucket); b != nil {
				sweepGaps(b, gaps, scope, func([]byte) bool { swept = true; return false })
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("unable to read %s from %s: %w", c.bucket, c.db.path, err)
		}
		if !swept {
			c.reset()
			return nil
		}
	}
	type kv struct {
		path string
		k    []byte
		e    cached
	}
	puts := make([]kv, 0, len(c.puts))
	for p, e := range c.puts {
		puts = append(puts, kv{p, appendKey(nil, p), e})
	}
	// bbolt fills pages best when keys arrive in order.
	slices.SortFunc(puts, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	err := c.db.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(c.bucket)
		if err != nil {
			return err
		}
		// Puts come in key order, so most append: fuller pages cost
		// nothing and halve what a rescan reads (bbolt's default leaves
		// appended pages half empty).
		b.FillPercent = 0.9
		dels := slices.Clone(gone)
		sweepGaps(b, gaps, scope, func(k []byte) bool { dels = append(dels, bytes.Clone(k)); return true })
		for _, k := range dels {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		changed := make([]changedFile, len(puts))
		for i, r := range puts {
			e := r.e.entry(r.path)
			if err := b.Put(r.k, AppendRecord(nil, r.k, AppendEntry(nil, e))); err != nil {
				return err
			}
			changed[i] = changedFile{r.k, e}
		}
		return c.commitChunks(tx, dels, changed)
	})
	if err != nil {
		// What was stored is kept for the next Commit to try again.
		return fmt.Errorf("unable to write %s to %s: %w", c.bucket, c.db.path, err)
	}
	c.reset()
	return nil
}

// Learn keeps the stat and hash of a file hashed outside a scan: a copy
// that read whole a file its scan listed unhashed (endpoint.ScanOptions
// HashLater), or a file the pass wrote, whose content it verified as it
// wrote it. The next scan's Lookup finds it, as if the scan before had
// hashed the file. Unlike Store it is not part of a scan, so it makes
// Commit drop nothing.
//
// Outside a scan the record is held until there are maxHeld of them, or
// CommitLearned, and then written. While a scan is under way (from Scope
// or its first Store to Commit) it is held with the scan's own records,
// and wins over what the scan saw of the path if the scan had passed it
// already: a batched first sync copies files while the scans still run,
// each after both scans have listed it, so what it learns is newer than
// what they saw. A path the scan has yet to reach is decided by the scan,
// whose Lookup finds the learned record.
func (c *Cache) Learn(e tree.Entry) {
	ce, ok := cachedOf(e)
	if !ok || tree.ValidPath(e.Path) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.scanning || len(c.runs) > 0 {
		k := appendKey(nil, e.Path)
		for _, r := range c.runs {
			if i, found := slices.BinarySearchFunc(r.gone, k, bytes.Compare); found {
				r.gone = slices.Delete(r.gone, i, i+1)
			}
		}
		c.puts[e.Path] = ce
		if len(c.puts) >= c.flushAt {
			c.flushPuts()
		}
		return
	}
	if c.learned == nil {
		c.learned = map[string]cached{}
	}
	c.learned[e.Path] = ce
	if len(c.learned)%c.heldMax == 0 {
		// A write that fails keeps them, for the next maxHeld or
		// CommitLearned to try again (which reports it); a Lookup finds
		// them meanwhile.
		_ = c.writeLearned()
	}
}

// HoldAtMost makes the cache write what it holds at n records instead of
// maxHeld (8192): a tighter bound on its memory, at the cost of a write
// transaction every n records.
func (c *Cache) HoldAtMost(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.heldMax = max(n, 1)
	c.flushAt = min(c.flushAt, len(c.puts)+c.heldMax)
}

// Held is how many records the cache holds in memory, not yet written:
// a scan's since its last Commit and those learned.
func (c *Cache) Held() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.puts) + len(c.learned)
}

// flushPuts writes the records held for the scan under way that it has
// passed already (keys from the first to the last Store of its current
// run): Commit would write them as they are, and the scan's cursor, which
// only goes on from beyond its last key, never reads them back as passed.
// The rest stay for Commit; flushAt is raised so that what cannot be
// written yet is not looked through at every Store. A write that fails
// leaves them held. The caller holds c.mu.
func (c *Cache) flushPuts() {
	n := len(c.runs)
	if n == 0 || c.err != nil {
		c.flushAt = len(c.puts) + c.heldMax
		return
	}
	run := c.runs[n-1]
	var puts []changedFile
	var paths []string
	for p, e := range c.puts {
		if k := appendKey(nil, p); run.covers(k) {
			puts = append(puts, changedFile{k, e.entry(p)})
			paths = append(paths, p)
		}
	}
	if len(puts) > 0 && c.writeRecords(puts) == nil {
		for _, p := range paths {
			delete(c.puts, p)
		}
		// Lookup's window may predate them: read it again.
		c.look.valid = false
	}
	c.flushAt = len(c.puts) + c.heldMax
}

// writeRecords writes records (in any order) and their chunk lists in one
// transaction. The caller holds c.mu.
func (c *Cache) writeRecords(puts []changedFile) error {
	slices.SortFunc(puts, func(a, b changedFile) int { return bytes.Compare(a.k, b.k) })
	return c.db.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(c.bucket)
		if err != nil {
			return err
		}
		b.FillPercent = 0.9
		for _, r := range puts {
			if err := b.Put(r.k, AppendRecord(nil, r.k, AppendEntry(nil, r.e))); err != nil {
				return err
			}
		}
		return c.commitChunks(tx, nil, puts)
	})
}

// CommitLearned writes what Learn kept since the last Commit, and the
// records a scan that was not committed (an interrupted pass) stored up
// to where it got, in one transaction each, and drops nothing: records of
// other paths stay as they are.
func (c *Cache) CommitLearned() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.puts) > 0 {
		c.flushPuts()
	}
	return c.writeLearned()
}

// writeLearned writes the learned records; the caller holds c.mu.
func (c *Cache) writeLearned() error {
	if len(c.learned) == 0 {
		return nil
	}
	puts := make([]changedFile, 0, len(c.learned))
	for p, ce := range c.learned {
		puts = append(puts, changedFile{appendKey(nil, p), ce.entry(p)})
	}
	if err := c.writeRecords(puts); err != nil {
		return fmt.Errorf("unable to write %s to %s: %w", c.bucket, c.db.path, err)
	}
	c.learned = nil
	c.look.valid = false
	return nil
}
