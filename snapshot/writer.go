package snapshot

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/tree"
	bolt "go.etcd.io/bbolt"
)

// A Writer commits after this many buffered operations, or when the oldest
// buffered one is this old, so a pass of many small files does not pay one
// fsync per file and a crash loses little.
const (
	FlushOps   = 256
	FlushDelay = 250 * time.Millisecond
)

// Writer buffers changes to the ancestor. It is safe for concurrent use.
type Writer struct {
	db *DB

	mu     sync.Mutex
	ops    []op
	oldest time.Time // when ops[0] was buffered
}

// op is a Put of val under key, or with a nil val, the removal of key and
// every key below it.
type op struct {
	key, val []byte
}

// Writer returns a new buffered writer of the ancestor.
func (db *DB) Writer() *Writer { return &Writer{db: db} }

// Record buffers e as the agreed state of e.Path. Its inode and problem are
// not kept: the inode is side-local, and an entry with a problem was never
// agreed on, so it is refused.
func (w *Writer) Record(e tree.Entry) error {
	if err := tree.ValidPath(e.Path); err != nil {
		return fmt.Errorf("unable to record ancestor: %w", err)
	}
	if !e.Exists() {
		return fmt.Errorf("unable to record ancestor %q: it is absent (use Forget)", e.Path)
	}
	if e.Problem != "" {
		return fmt.Errorf("unable to record ancestor %q: it has a problem: %s", e.Path, e.Problem)
	}
	e.Ino = 0
	k := appendKey(nil, e.Path)
	return w.add(op{key: k, val: AppendRecord(nil, k, AppendEntry(nil, e))})
}

// Forget buffers the removal of path and everything below it.
func (w *Writer) Forget(path string) error {
	if err := tree.ValidPath(path); err != nil {
		return fmt.Errorf("unable to forget ancestor: %w", err)
	}
	return w.add(op{key: appendKey(nil, path)})
}

func (w *Writer) add(o op) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.db.now()
	if len(w.ops) == 0 {
		w.oldest = now
	}
	w.ops = append(w.ops, o)
	if len(w.ops) >= FlushOps || now.Sub(w.oldest) >= FlushDelay {
		return w.flushLocked()
	}
	return nil
}

// Flush commits every buffered operation in one transaction. On failure the
// operations stay buffered for the next attempt.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

// Pending returns the number of buffered operations.
func (w *Writer) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.ops)
}

func (w *Writer) flushLocked() error {
	if len(w.ops) == 0 {
		return nil
	}
	err := w.db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAncestor)
		// A pass records in tree order, which is key order, so most puts
		// append: fuller pages then cost nothing and shrink the file.
		b.FillPercent = 0.9
		var d totalsDelta
		for _, o := range w.ops {
			var err error
			if o.val != nil {
				d.replaced(b.Get(o.key), o.val)
				err = b.Put(o.key, o.val)
			} else {
				err = deleteTree(b, o.key, &d)
			}
			if err != nil {
				return err
			}
		}
		return d.apply(tx.Bucket(bucketMeta))
	})
	if err != nil {
		return fmt.Errorf("unable to write ancestor to %s: %w", w.db.path, err)
	}
	clear(w.ops)
	w.ops = w.ops[:0]
	return nil
}

// deleteTree removes key and every key below it. Keys are collected first
// because deleting under a moving cursor skips entries.
func deleteTree(b *bolt.Bucket, key []byte, d *totalsDelta) error {
	prefix := append(bytes.Clone(key), 0)
	var doomed [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		doomed = append(doomed, bytes.Clone(k))
	}
	doomed = append(doomed, key)
	for _, k := range doomed {
		if v := b.Get(k); v != nil {
			d.replaced(v, nil)
		}
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
