package snapshot

import (
	"bytes"
	"fmt"

	"github.com/ferry-sync/ferry/tree"
	bolt "go.etcd.io/bbolt"
)

// ancestorBatch is how many ancestor records one read transaction of an
// AncestorReader decodes.
const ancestorBatch = 1024

// AncestorReader reads the ancestor in tree.Compare order, a bounded batch
// at a time, so that a pass can merge it with the scans without holding it
// whole. Each batch is read in its own short transaction: no read
// transaction stays open between calls, so writes (a scan cache storing
// chunk lists, say) never wait on the reader. The ancestor itself must not
// change while it is read; during a pass only the applier writes it, after
// the merge.
type AncestorReader struct {
	db    *DB
	after []byte // the key of the last record returned; nil before the first
	buf   []tree.Entry
	i     int
	done  bool
	// items, when not nil, limits the reader to a scope's listing; item is
	// the one being read, after then a key inside it.
	items []tree.ScopeItem
	item  int
}

// AncestorReader starts reading the ancestor from its first path.
func (db *DB) AncestorReader() *AncestorReader {
	return &AncestorReader{db: db}
}

// ScopedAncestorReader reads only what of the ancestor lies in scope (see
// tree.Scope.Items): each context directory's own record and each root's
// subtree, found with a seek, so the cost follows the scope, not the
// tree. The whole scope reads the whole ancestor.
func (db *DB) ScopedAncestorReader(scope tree.Scope) *AncestorReader {
	r := &AncestorReader{db: db, items: scope.Items()}
	if !scope.Whole() && len(r.items) == 0 {
		r.done = true
	}
	return r
}

// Next returns the next ancestor entry, or false when there is none. A
// record that does not decode is an error wrapping ErrDamaged.
func (r *AncestorReader) Next() (tree.Entry, bool, error) {
	if r.i == len(r.buf) {
		if r.done {
			return tree.Entry{}, false, nil
		}
		if err := r.fill(); err != nil {
			return tree.Entry{}, false, err
		}
		if len(r.buf) == 0 {
			return tree.Entry{}, false, nil
		}
	}
	e := r.buf[r.i]
	r.buf[r.i] = tree.Entry{}
	r.i++
	return e, true, nil
}

func (r *AncestorReader) fill() error {
	r.buf, r.i = r.buf[:0], 0
	if r.items != nil {
		return r.fillScoped()
	}
	err := r.db.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAncestor).Cursor()
		var k, v []byte
		if r.after == nil {
			k, v = c.First()
		} else if k, v = c.Seek(r.after); k != nil && string(k) == string(r.after) {
			k, v = c.Next()
		}
		for ; k != nil && len(r.buf) < ancestorBatch; k, v = c.Next() {
			e, err := parseStoredEntry(k, v)
			if err != nil {
				return err
			}
			r.buf = append(r.buf, e)
			r.after = append(r.after[:0], k...)
		}
		if k == nil {
			r.done = true
		}
		return nil
	})
	if err != nil {
		r.buf, r.done = r.buf[:0], true
		return fmt.Errorf("unable to read ancestor from %s: %w", r.db.path, err)
	}
	return nil
}

// fillScoped reads the next batch of a scoped reader, going on from the
// item under way.
func (r *AncestorReader) fillScoped() error {
	var key, below []byte
	err := r.db.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAncestor).Cursor()
		for ; r.item < len(r.items) && len(r.buf) < ancestorBatch; r.item, r.after = r.item+1, nil {
			it := r.items[r.item]
			key = appendKey(key[:0], it.Path)
			var k, v []byte
			if !it.Subtree {
				if k, v = c.Seek(key); k == nil || !bytes.Equal(k, key) {
					continue
				}
				e, err := parseStoredEntry(k, v)
				if err != nil {
					return err
				}
				r.buf = append(r.buf, e)
				continue
			}
			// The subtree is the root's key and the keys below it, which
			// follow it: its key, a NUL, anything.
			below = append(append(below[:0], key...), 0)
			if r.after == nil {
				k, v = c.Seek(key)
			} else if k, v = c.Seek(r.after); k != nil && bytes.Equal(k, r.after) {
				k, v = c.Next()
			}
			for ; k != nil && (bytes.Equal(k, key) || bytes.HasPrefix(k, below)); k, v = c.Next() {
				if len(r.buf) == ancestorBatch {
					return nil // the item goes on in the next batch
				}
				e, err := parseStoredEntry(k, v)
				if err != nil {
					return err
				}
				r.buf = append(r.buf, e)
				r.after = append(r.after[:0], k...)
			}
		}
		if r.item == len(r.items) {
			r.done = true
		}
		return nil
	})
	if err != nil {
		r.buf, r.done = r.buf[:0], true
		return fmt.Errorf("unable to read ancestor from %s: %w", r.db.path, err)
	}
	return nil
}

// AncestorOf returns the agreed state of each of paths, Kind Absent (with
// the path) for those the ancestor does not hold. It looks each one up,
// in one read transaction, instead of reading the whole ancestor.
func (db *DB) AncestorOf(paths []string) (map[string]tree.Entry, error) {
	out := make(map[string]tree.Entry, len(paths))
	err := db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAncestor)
		var k []byte
		for _, p := range paths {
			out[p] = tree.Entry{Path: p}
			if tree.ValidPath(p) != nil {
				continue
			}
			k = appendKey(k[:0], p)
			v := b.Get(k)
			if v == nil {
				continue
			}
			e, err := parseStoredEntry(k, v)
			if err != nil {
				return err
			}
			out[p] = e
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("unable to read ancestor from %s: %w", db.path, err)
	}
	return out, nil
}
