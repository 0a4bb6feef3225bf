package snapshot

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/tree"
	bolt "go.etcd.io/bbolt"
)

// chunksPrefix names a side's bucket of chunk lists ("chunks/local"). It is
// not under cachePrefix: its values are not plain entries.
const chunksPrefix = "chunks/"

// maxPendingChunks bounds the encoded lists StoreChunks holds in memory
// before writing them: a scan of a tree of large files must not keep every
// list (about 35 bytes per 64 KiB chunk) until its Commit, and writing each
// alone would cost a commit (two fsyncs) per file.
const maxPendingChunks = 4 << 20

// A stored chunk list is, under the path's key, a record (AppendRecord) of
// the entry it was computed for (AppendEntry: size, mtime, mode, inode and
// xxhash) followed by the list (chunk.List.Append).

// StoreChunks keeps l as the chunk list of the file e describes (its path,
// lstat and whole-file hash) for LoadChunks. Like Store, it is meant for a
// scan: lists are buffered, up to maxPendingChunks bytes, and written
// together, at the latest by the next Commit. An empty list (a file under
// chunk.MinFileSize) is not kept.
func (c *Cache) StoreChunks(e tree.Entry, l chunk.List) error {
	_, v, ok, err := chunkRecord(e, l)
	if !ok || err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.pending[e.Path]; ok {
		c.pendingBytes -= len(old)
	}
	c.pending[e.Path] = v
	c.pendingBytes += len(v)
	if c.pendingBytes < maxPendingChunks {
		return nil
	}
	err = c.db.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(c.chunks)
		if err != nil {
			return err
		}
		return c.putPending(b)
	})
	if err != nil {
		return fmt.Errorf("unable to write chunk lists to %s: %w", c.db.path, err)
	}
	return nil
}

// SaveChunks is StoreChunks written at once, in its own transaction: for a
// list computed outside a scan (localfs's Chunks of a file the scan did not
// list), which no Commit may follow.
func (c *Cache) SaveChunks(e tree.Entry, l chunk.List) error {
	k, v, ok, err := chunkRecord(e, l)
	if !ok || err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.pending[e.Path]; ok {
		c.pendingBytes -= len(old)
		delete(c.pending, e.Path)
	}
	err = c.db.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(c.chunks)
		if err != nil {
			return err
		}
		return b.Put(k, v)
	})
	if err != nil {
		return fmt.Errorf("unable to write the chunk list of %q to %s: %w", e.Path, c.db.path, err)
	}
	return nil
}

// chunkRecord encodes e and l as stored; ok is false for a list not worth
// keeping (no chunks, or a path the cache would not keep either).
func chunkRecord(e tree.Entry, l chunk.List) (k, v []byte, ok bool, err error) {
	if len(l.Chunks) == 0 || e.Problem != "" || tree.ValidPath(e.Path) != nil {
		return nil, nil, false, nil
	}
	if e.Kind != tree.File || e.Size != l.Total || e.Hash == 0 {
		return nil, nil, false, fmt.Errorf("unable to store the chunk list of %q: a list of %d bytes for a %s of %d bytes with hash %016x",
			e.Path, l.Total, e.Kind, e.Size, e.Hash)
	}
	e.Target = ""
	k = appendKey(nil, e.Path)
	return k, AppendRecord(nil, k, l.Append(AppendEntry(nil, e))), true, nil
}

// LoadChunks returns the chunk list last stored for path, with the entry
// (lstat and hash) it was stored for; ok is false when there is none. The
// caller decides whether that entry still describes the file. A record
// that does not decode is an error wrapping ErrDamaged.
func (c *Cache) LoadChunks(path string) (e tree.Entry, l chunk.List, ok bool, err error) {
	k := appendKey(nil, path)
	// A buffered record is never changed, only replaced: it can be parsed
	// outside the lock. One written meanwhile is in the file by the time
	// the lock is let go.
	c.mu.Lock()
	v, pending := c.pending[path]
	c.mu.Unlock()
	if !pending {
		err = c.db.view(func(tx *bolt.Tx) error {
			if b := tx.Bucket(c.chunks); b != nil {
				v = bytes.Clone(b.Get(k))
			}
			return nil
		})
	}
	if err == nil && v != nil {
		e, l, err = parseChunkRecord(k, v)
	}
	if err != nil {
		return tree.Entry{}, chunk.List{}, false, fmt.Errorf("unable to read the chunk list of %q from %s: %w", path, c.db.path, err)
	}
	return e, l, v != nil, nil
}

// parseChunkRecord decodes a stored chunk list; it copies, so the result
// may outlive the transaction.
func parseChunkRecord(k, stored []byte) (tree.Entry, chunk.List, error) {
	e, rest, err := parseChunkKey(k, stored)
	if err != nil {
		return tree.Entry{}, chunk.List{}, err
	}
	l, n, err := chunk.ParseList(rest)
	switch {
	case err != nil:
		return tree.Entry{}, chunk.List{}, fmt.Errorf("%w: %w", ErrDamaged, err)
	case n != len(rest):
		return tree.Entry{}, chunk.List{}, fmt.Errorf("%w: chunk list %q has %d trailing bytes", ErrDamaged, e.Path, len(rest)-n)
	case l.Total != e.Size:
		return tree.Entry{}, chunk.List{}, fmt.Errorf("%w: chunk list %q is of %d bytes, its file of %d", ErrDamaged, e.Path, l.Total, e.Size)
	}
	return e, l, nil
}

// parseChunkKey checks a stored chunk list's checksum and decodes the entry
// it was stored for, returning the encoded list after it.
func parseChunkKey(k, stored []byte) (tree.Entry, []byte, error) {
	v, err := ParseRecord(k, stored)
	if err != nil {
		return tree.Entry{}, nil, err
	}
	e, n, err := ParseEntry(v)
	if err != nil {
		return tree.Entry{}, nil, fmt.Errorf("unable to decode chunk list %q: %w: %w", keyPath(k), ErrDamaged, err)
	}
	e.Path = keyPath(k)
	return e, v[n:], nil
}

// putPending writes the buffered lists into b, in key order (bbolt fills
// pages best that way), and empties the buffer. The caller holds c.mu.
func (c *Cache) putPending(b *bolt.Bucket) error {
	type kv struct{ k, v []byte }
	puts := make([]kv, 0, len(c.pending))
	for p, v := range c.pending {
		puts = append(puts, kv{appendKey(nil, p), v})
	}
	slices.SortFunc(puts, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	for _, r := range puts {
		if err := b.Put(r.k, r.v); err != nil {
			return err
		}
	}
	clear(c.pending)
	c.pendingBytes = 0
	return nil
}

// changedFile is a record Commit writes: its key and the entry stored.
type changedFile struct {
	k []byte
	e tree.Entry
}

// commitChunks runs inside Commit's transaction: it writes the buffered
// lists, then drops the lists of the files whose records Commit deleted
// (gone) and of those it rewrote (changed) whose list was made for another
// lstat or hash, so the bucket holds lists only of files as the last scan
// saw them. Files whose records did not change keep their lists unread.
// The caller holds c.mu.
func (c *Cache) commitChunks(tx *bolt.Tx, gone [][]byte, changed []changedFile) error {
	b := tx.Bucket(c.chunks)
	if b == nil {
		if len(c.pending) == 0 {
			return nil
		}
		var err error
		if b, err = tx.CreateBucket(c.chunks); err != nil {
			return err
		}
	}
	if err := c.putPending(b); err != nil {
		return err
	}
	var drop [][]byte
	for _, k := range gone {
		if b.Get(k) != nil {
			drop = append(drop, k)
		}
	}
	for _, f := range changed {
		v := b.Get(f.k)
		if v == nil {
			continue
		}
		// Only the entry at the front is decoded: LoadChunks checks the
		// whole record before a list is used.
		if stored, _, err := ParseEntry(v); err != nil || !chunksFit(stored, f.e) {
			drop = append(drop, f.k)
		}
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// chunksFit reports whether a list stored for the file stored describes
// the file e: the same lstat and the same content hash.
func chunksFit(stored, e tree.Entry) bool {
	return e.Kind == tree.File && stored.SameStat(e) && stored.Hash == e.Hash
}

// maxFindLists bounds how many stored lists one FindChunks reads, so a
// side with very many large files does not make one new file cost a read
// of every list.
const maxFindLists = 100_000

// FindChunks looks through the side's stored chunk lists (written and
// buffered) for chunks whose SHA-256 is in want, and calls found with the
// file each list was stored for (its lstat and hash then) and the chunk,
// until found returns false. A chunk held by several files may be reported
// more than once. Records that do not decode are skipped: what FindChunks
// reports is a hint that its caller verifies.
func (c *Cache) FindChunks(want map[[chunk.SumSize]byte]bool, found func(tree.Entry, chunk.Chunk) bool) error {
	if len(want) == 0 {
		return nil
	}
	more := true
	look := func(k, v []byte) {
		e, l, err := parseChunkRecord(k, v)
		if err != nil {
			return
		}
		for _, ch := range l.Chunks {
			if more && want[ch.Sum] {
				more = found(e, ch)
			}
		}
	}
	c.mu.Lock()
	pending := make(map[string][]byte, len(c.pending))
	for p, v := range c.pending {
		pending[p] = v
	}
	c.mu.Unlock()
	read := 0
	for p, v := range pending {
		if !more {
			return nil
		}
		read++
		look(appendKey(nil, p), v)
	}
	err := c.db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(c.chunks)
		if b == nil {
			return nil
		}
		cur := b.Cursor()
		for k, v := cur.First(); k != nil && more && read < maxFindLists; k, v = cur.Next() {
			if _, isPending := pending[keyPath(k)]; isPending {
				continue
			}
			read++
			look(k, v)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("unable to read chunk lists from %s: %w", c.db.path, err)
	}
	return nil
}
