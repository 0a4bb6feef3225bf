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
// lists of its large files (StoreChunks, LoadChunks). Lookup and Store
// work in memory; chunk lists live in the file, only a bounded batch of
// them in memory. Its methods are safe for concurrent use.
type Cache struct {
	db     *DB
	bucket []byte
	chunks []byte // the side's chunk list bucket

	mu   sync.Mutex
	prev map[string]cached // as of the last commit
	cur  map[string]cached // stored since
	// pending holds chunk lists stored and not yet written, by path, as
	// they will be stored; pendingBytes is their size.
	pending      map[string][]byte
	pendingBytes int
}

// Cache loads the scan cache of side ("local", "remote" or any other name).
func (db *DB) Cache(side string) (*Cache, error) {
	if side == "" {
		return nil, fmt.Errorf("unable to open scan cache: empty side name")
	}
	c := &Cache{
		db: db, bucket: []byte(cachePrefix + side), chunks: []byte(chunksPrefix + side),
		prev: map[string]cached{}, cur: map[string]cached{}, pending: map[string][]byte{},
	}
	err := db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(c.bucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			e, err := parseStoredEntry(k, v)
			if err != nil {
				return err
			}
			if ce, ok := cachedOf(e); ok {
				c.prev[e.Path] = ce
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("unable to load %s scan cache from %s: %w", side, db.path, err)
	}
	return c, nil
}

// cached is what the cache keeps of a file: its lstat and hash, 40 bytes
// where a tree.Entry takes 96, in each of the two maps of each side. Only
// hashed regular files are kept: nothing else has a hash to reuse.
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

// Lookup returns what the last scan recorded for path, a hashed regular
// file (anything else is not kept).
func (c *Cache) Lookup(path string) (tree.Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.cur[path]; ok {
		return e.entry(path), true
	}
	e, ok := c.prev[path]
	return e.entry(path), ok
}

// Store records this scan's stat and hash of e.Path. Only hashed regular
// files are kept; entries with a problem or an invalid path are ignored:
// they describe nothing worth reusing.
func (c *Cache) Store(e tree.Entry) {
	ce, ok := cachedOf(e)
	if !ok || tree.ValidPath(e.Path) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur[e.Path] = ce
}

// Commit replaces the stored cache, in one transaction, by the entries
// Stored since Cache or the previous Commit; anything not stored in between
// (deleted files) is dropped. The same transaction writes the chunk lists
// still buffered and drops the lists of files that are gone or no longer
// match their entry. After Commit, a new scan may begin.
//
// prev mirrors the bucket, so only the difference is written: a rescan
// that found nothing new costs no write at all, where rewriting the whole
// bucket cost 0.4 s per pass at 100k files. Lists change only with their
// files' entries, so such a rescan leaves them alone too.
func (c *Cache) Commit() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	type kv struct{ k, v []byte }
	var puts []kv
	var dels [][]byte
	for p, e := range c.cur {
		if old, ok := c.prev[p]; !ok || old != e {
			k := appendKey(nil, p)
			puts = append(puts, kv{k, AppendRecord(nil, k, AppendEntry(nil, e.entry(p)))})
		}
	}
	for p := range c.prev {
		if _, ok := c.cur[p]; !ok {
			dels = append(dels, appendKey(nil, p))
		}
	}
	if len(puts) > 0 || len(dels) > 0 || len(c.pending) > 0 {
		// bbolt fills pages best when keys arrive in order.
		slices.SortFunc(puts, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
		err := c.db.update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(c.bucket)
			if err != nil {
				return err
			}
			for _, k := range dels {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			for _, r := range puts {
				if err := b.Put(r.k, r.v); err != nil {
					return err
				}
			}
			return c.commitChunks(tx, c.cur)
		})
		if err != nil {
			return fmt.Errorf("unable to write %s to %s: %w", c.bucket, c.db.path, err)
		}
	}
	c.prev, c.cur = c.cur, make(map[string]cached, len(c.cur))
	return nil
}
