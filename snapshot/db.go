package snapshot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/ferry-sync/ferry/tree"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout of the buckets below. A database with another
// version is moved aside, like a corrupt one.
const SchemaVersion = 1

// ErrInUse is wrapped by Open when another process holds the database.
var ErrInUse = errors.New("database is in use by another ferry process")

var (
	bucketMeta      = []byte("meta")
	bucketAncestor  = []byte("ancestor")
	bucketConflicts = []byte("conflicts")
	bucketPasses    = []byte("passes")
	cachePrefix     = "cache/"

	keySchema   = []byte("schema")
	keyLastPass = []byte("last")
)

// lockTimeout is how long Open waits for another process's lock: long
// enough to ride out a process that is just exiting, short enough that a
// second ferry says clearly why it cannot start.
const lockTimeout = time.Second

// DB is one job's snapshot: the ancestor, the per-side scan caches, the
// unresolved conflicts and the last pass. Its methods are safe for
// concurrent use.
type DB struct {
	bolt      *bolt.DB
	path      string
	recovered string
	now       func() time.Time
}

type options struct {
	now     func() time.Time
	timeout time.Duration
}

// Open opens the snapshot at path, creating it and its parent directories
// when missing. A file that is corrupt or has another schema version is
// renamed to PATH.corrupt-<unixtime> and replaced by a fresh database;
// Recovered then says so.
func Open(path string) (*DB, error) {
	return open(path, options{})
}

func open(path string, o options) (*DB, error) {
	if o.now == nil {
		o.now = time.Now
	}
	if o.timeout == 0 {
		o.timeout = lockTimeout
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("unable to create snapshot directory: %w", err)
	}
	b, bad, err := openBolt(path, o.timeout)
	if err != nil {
		return nil, err
	}
	var recovered string
	if bad != nil {
		aside, err := moveAside(path, o.now())
		if err != nil {
			return nil, fmt.Errorf("unable to move unreadable snapshot %s (%v) aside: %w", path, bad, err)
		}
		b, bad2, err := openBolt(path, o.timeout)
		if err != nil {
			return nil, err
		}
		if bad2 != nil {
			return nil, fmt.Errorf("unable to create a fresh snapshot %s: %w", path, bad2)
		}
		recovered = fmt.Sprintf("snapshot %s was unreadable (%v); moved it to %s and started a fresh one: the next pass rebuilds the agreed state from both sides", path, bad, aside)
		return &DB{bolt: b, path: path, recovered: recovered, now: o.now}, nil
	}
	return &DB{bolt: b, path: path, now: o.now}, nil
}

// openBolt opens and checks the file. A non-nil bad means the file exists
// but cannot be used and should be moved aside; err is any other failure,
// which moving the file would not cure.
func openBolt(path string, timeout time.Duration) (db *bolt.DB, bad, err error) {
	db, err = guard(func() (*bolt.DB, error) {
		return bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	})
	var p panicked
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, nil, fmt.Errorf("unable to open snapshot %s: %w; stop the other ferry or give this one another state_dir", path, ErrInUse)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch),
		errors.Is(err, berrors.ErrChecksum), errors.As(err, &p):
		return nil, err, nil
	case err != nil:
		return nil, nil, fmt.Errorf("unable to open snapshot %s: %w", path, err)
	}
	bad, err = initSchema(db)
	if bad == nil && err == nil {
		bad = verify(db)
	}
	if bad != nil || err != nil {
		db.Close()
		if err != nil {
			err = fmt.Errorf("unable to open snapshot %s: %w", path, err)
		}
		return nil, bad, err
	}
	return db, nil, nil
}

// panicked is what guard turns a panic or memory fault into. bbolt trusts
// its file and panics (or faults on a short mmap) when pages are garbage.
type panicked struct{ v any }

func (p panicked) Error() string { return fmt.Sprintf("database file is damaged: %v", p.v) }

// guard runs fn, turning a panic or a fault on mapped memory into an error.
// SetPanicOnFault is per goroutine, so it only covers fn's own reads.
func guard[T any](fn func() (T, error)) (v T, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = panicked{r}
		}
	}()
	return fn()
}

type schemaError struct{ msg string }

func (e schemaError) Error() string { return e.msg }

// initSchema creates the buckets in a new file, or checks the schema
// version of an existing one.
func initSchema(db *bolt.DB) (bad, err error) {
	_, err = guard(func() (struct{}, error) {
		return struct{}{}, db.Update(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if meta == nil {
				var used bool
				_ = tx.ForEach(func([]byte, *bolt.Bucket) error { used = true; return nil })
				if used {
					return schemaError{"not a ferry snapshot: it has no schema version"}
				}
				var err error
				if meta, err = tx.CreateBucket(bucketMeta); err != nil {
					return err
				}
				if err := meta.Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion)); err != nil {
					return err
				}
			}
			v := meta.Get(keySchema)
			if len(v) != 4 {
				return schemaError{"not a ferry snapshot: its schema version is unreadable"}
			}
			if got := binary.BigEndian.Uint32(v); got != SchemaVersion {
				return schemaError{fmt.Sprintf("schema version %d, this ferry uses %d", got, SchemaVersion)}
			}
			for _, name := range [][]byte{bucketAncestor, bucketConflicts, bucketPasses} {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			return nil
		})
	})
	var se schemaError
	var p panicked
	if errors.As(err, &se) || errors.As(err, &p) {
		return err, nil
	}
	return nil, err
}

// verify reads every key and ancestor value once, so that a damaged page is
// found now, where the file can still be moved aside, rather than as a
// panic in the middle of a pass.
func verify(db *bolt.DB) error {
	_, err := guard(func() (struct{}, error) {
		return struct{}{}, db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
				decode := string(name) == string(bucketAncestor) || len(name) > len(cachePrefix) && string(name[:len(cachePrefix)]) == cachePrefix
				return b.ForEach(func(k, v []byte) error {
					if !decode {
						return nil
					}
					_, err := parseValue(keyPath(k), v)
					return err
				})
			})
		})
	})
	return err
}

// moveAside renames path to path.corrupt-<unix>, adding -N if that name is
// taken, and returns the new name.
func moveAside(path string, now time.Time) (string, error) {
	base := fmt.Sprintf("%s.corrupt-%d", path, now.Unix())
	aside := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(aside); errors.Is(err, os.ErrNotExist) {
			break
		} else if err != nil {
			return "", err
		}
		if i > 100 {
			return "", fmt.Errorf("too many files named %s-N", base)
		}
		aside = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(path, aside); err != nil {
		return "", err
	}
	return aside, nil
}

// Close closes the database. Unflushed Writer batches are lost.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("unable to close snapshot %s: %w", db.path, err)
	}
	return nil
}

// Path returns the file the database lives in.
func (db *DB) Path() string { return db.path }

// Recovered says, when Open had to replace an unreadable file, what
// happened and where the old file went; it is empty otherwise.
func (db *DB) Recovered() string { return db.recovered }

// Ancestor returns the agreed state of every path, sorted by tree.Compare.
// It sees only what Writers have flushed.
func (db *DB) Ancestor() ([]tree.Entry, error) {
	var out []tree.Entry
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAncestor)
		out = make([]tree.Entry, 0, b.Stats().KeyN)
		return b.ForEach(func(k, v []byte) error {
			e, err := parseValue(keyPath(k), v)
			if err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("unable to read ancestor from %s: %w", db.path, err)
	}
	return out, nil
}

// EachAncestor calls fn for each ancestor entry in tree.Compare order
// without building a slice, stopping at fn's first error.
//
// fn runs inside a read transaction: it must not write to db (a Writer
// flush from fn can deadlock when the file needs to grow).
func (db *DB) EachAncestor(fn func(tree.Entry) error) error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAncestor).ForEach(func(k, v []byte) error {
			e, err := parseValue(keyPath(k), v)
			if err != nil {
				return fmt.Errorf("unable to read ancestor from %s: %w", db.path, err)
			}
			return fn(e)
		})
	})
}

// Reset forgets the ancestor, every scan cache and every conflict, so the
// next pass starts as if the job were new. The last pass record stays.
func (db *DB) Reset() error {
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		var drop [][]byte
		err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			s := string(name)
			if s == string(bucketAncestor) || s == string(bucketConflicts) ||
				len(s) > len(cachePrefix) && s[:len(cachePrefix)] == cachePrefix {
				drop = append(drop, []byte(s))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, name := range drop {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		for _, name := range [][]byte{bucketAncestor, bucketConflicts} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		// The records are gone, so they describe no folder pair any more.
		return tx.Bucket(bucketMeta).Delete(keyPair)
	})
	if err != nil {
		return fmt.Errorf("unable to reset snapshot %s: %w", db.path, err)
	}
	return nil
}
