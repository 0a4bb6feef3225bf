package snapshot

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/tree"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout of the buckets below. Version 2 ends every
// stored value (all but the schema version itself) with a checksum, see
// AppendRecord. A version 1 file is converted in place when opened; a
// database with any other version is moved aside, like a corrupt one.
const SchemaVersion = 2

// schemaV1 is the layout before checksums: the same buckets and values.
const schemaV1 = 1

// ErrInUse is wrapped by Open when another process holds the database.
var ErrInUse = errors.New("database is in use by another ferry process")

var (
	bucketMeta      = []byte("meta")
	bucketAncestor  = []byte("ancestor")
	bucketConflicts = []byte("conflicts")
	bucketPasses    = []byte("passes")
	cachePrefix     = "cache/"

	keySchema   = []byte("schema")
	keyRecovery = []byte("recovered")
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
	path string
	now  func() time.Time

	// mu guards the fields below: Recover swaps the file under every
	// other method, which hold it for reading while they use bolt.
	mu       sync.RWMutex
	bolt     *bolt.DB
	recovery *Recovery
}

// Recovery is what became of a damaged snapshot: it was moved aside and a
// fresh one started, so the pass after it has no ancestor (it deletes
// nothing, and files that differ become conflicts).
type Recovery struct {
	File    string    `json:"file"`
	MovedTo string    `json:"moved_to"`
	Reason  string    `json:"reason"`
	Time    time.Time `json:"time"`
}

// String says what happened and what it means, in one line.
func (r *Recovery) String() string {
	return fmt.Sprintf("snapshot %s was damaged (%s); moved it to %s and started a fresh one: "+
		"the next pass has no ancestor, so it deletes nothing and turns files that differ into conflicts",
		r.File, r.Reason, r.MovedTo)
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
	db := &DB{bolt: b, path: path, now: o.now}
	if bad != nil {
		if db.bolt, db.recovery, err = replace(path, bad, o); err != nil {
			return nil, err
		}
	}
	return db, nil
}

// replace moves the damaged file at path aside and opens a fresh one.
func replace(path string, bad error, o options) (*bolt.DB, *Recovery, error) {
	now := o.now()
	aside, err := moveAside(path, now)
	if err != nil {
		return nil, nil, fmt.Errorf("unable to move damaged snapshot %s (%v) aside: %w", path, bad, err)
	}
	b, bad2, err := openBolt(path, o.timeout)
	if err != nil {
		return nil, nil, err
	}
	if bad2 != nil {
		return nil, nil, fmt.Errorf("unable to create a fresh snapshot %s: %w", path, bad2)
	}
	r := &Recovery{File: path, MovedTo: aside, Reason: bad.Error(), Time: now}
	// Kept in the new file until a pass takes it, so that a command that
	// only looked (status, conflicts) does not swallow it.
	v, err := json.Marshal(r)
	if err == nil {
		err = b.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyRecovery, AppendRecord(nil, keyRecovery, v))
		})
	}
	if err != nil {
		b.Close()
		return nil, nil, fmt.Errorf("unable to note the damaged snapshot in %s: %w", path, err)
	}
	return b, r, nil
}

// Recover is for a caller that found the open database damaged (an error
// wrapping ErrDamaged): it closes the file, moves it aside, and continues
// on a fresh one, which TakeRecovery then reports. Writers and caches of db
// carry on into the new file.
func (db *DB) Recover(cause error) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("unable to close damaged snapshot %s: %w", db.path, err)
	}
	b, r, err := replace(db.path, cause, options{now: db.now, timeout: lockTimeout})
	if err != nil {
		// Keep a handle, so that later calls fail as errors, not panics.
		if b2, _, err2 := openBolt(db.path, lockTimeout); err2 == nil && b2 != nil {
			db.bolt = b2
		}
		return err
	}
	db.bolt, db.recovery = b, r
	return nil
}

// view runs fn in a read transaction, turning a panic or a fault on a
// damaged page into an error wrapping ErrDamaged.
func (db *DB) view(fn func(tx *bolt.Tx) error) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	_, err := guard(func() (struct{}, error) { return struct{}{}, db.bolt.View(fn) })
	return err
}

// update runs fn in a write transaction, like view.
func (db *DB) update(fn func(tx *bolt.Tx) error) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	_, err := guard(func() (struct{}, error) { return struct{}{}, db.bolt.Update(fn) })
	return err
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

// Is makes a panicked match ErrDamaged.
func (p panicked) Is(target error) bool { return target == ErrDamaged }

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
			got := binary.BigEndian.Uint32(v)
			if got == schemaV1 {
				if err := migrateV1(tx); err != nil {
					return err
				}
				got = SchemaVersion
			}
			if got != SchemaVersion {
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
	if errors.As(err, &se) || errors.Is(err, ErrDamaged) {
		return err, nil
	}
	return nil, err
}

// migrateV1 adds the checksums of schema 2 to every value of a schema 1
// file, in the transaction that opens it. A schema 1 file has no way to
// show damage, so its records are checked as far as they can be (entries
// must decode, JSON must parse) and otherwise trusted as before; keeping
// the ancestor spares the user a first pass that would turn every file
// both sides changed into a conflict.
func migrateV1(tx *bolt.Tx) error {
	type rec struct{ bucket, k, v []byte }
	var recs []rec
	err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		kind := bucketKind(name)
		return b.ForEach(func(k, v []byte) error {
			switch {
			case kind == kindMeta && !bytes.Equal(k, keyPair):
				return nil
			case kind == kindEntries:
				if _, err := parseValue(keyPath(k), v); err != nil {
					return err
				}
			case kind == kindJSON && !json.Valid(v):
				return fmt.Errorf("%w: %s record %q is not valid JSON", ErrDamaged, name, keyPath(k))
			}
			recs = append(recs, rec{bytes.Clone(name), bytes.Clone(k), AppendRecord(nil, k, v)})
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("unable to convert a schema %d snapshot: %w", schemaV1, err)
	}
	for _, r := range recs {
		b := tx.Bucket(r.bucket)
		if strings.HasPrefix(string(r.bucket), cachePrefix) {
			b.FillPercent = 0.9
		}
		if err := b.Put(r.k, r.v); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion))
}

// The kinds of bucket, by what their values hold.
const (
	kindMeta    = iota // schema version (raw) and folder pair
	kindEntries        // encoded tree entries: the ancestor and the caches
	kindJSON           // conflicts and the pass record
	kindChunks         // an entry and a chunk list
)

func bucketKind(name []byte) int {
	switch s := string(name); {
	case s == string(bucketMeta):
		return kindMeta
	case s == string(bucketAncestor) || strings.HasPrefix(s, cachePrefix):
		return kindEntries
	case strings.HasPrefix(s, chunksPrefix):
		return kindChunks
	}
	return kindJSON
}

// verify reads every record once and checks its checksum (and decodes the
// entries), so that a damaged page is found now, where the file can still
// be moved aside, rather than in the middle of a pass.
func verify(db *bolt.DB) error {
	_, err := guard(func() (struct{}, error) {
		return struct{}{}, db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
				kind := bucketKind(name)
				return b.ForEach(func(k, v []byte) error {
					switch {
					case kind == kindMeta && bytes.Equal(k, keySchema):
						return nil
					case kind == kindEntries:
						_, err := parseStoredEntry(k, v)
						return err
					case kind == kindChunks:
						// The checksum covers the list; decoding every
						// list at each open would cost more than it finds.
						_, _, err := parseChunkKey(k, v)
						return err
					}
					_, err := ParseRecord(k, v)
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
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("unable to close snapshot %s: %w", db.path, err)
	}
	return nil
}

// Path returns the file the database lives in.
func (db *DB) Path() string { return db.path }

// Recovered says, when Open or Recover had to replace a damaged file, what
// happened and where the old file went; it is empty otherwise.
func (db *DB) Recovered() string {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if db.recovery == nil {
		return ""
	}
	return db.recovery.String()
}

// TakeRecovery returns the replacement of a damaged file that no pass has
// taken yet (it is kept in the file), so that the pass it leaves without an
// ancestor says so once; nil otherwise.
func (db *DB) TakeRecovery() *Recovery {
	// Most passes have nothing to take: look before paying for a commit.
	var pending bool
	_ = db.view(func(tx *bolt.Tx) error {
		pending = tx.Bucket(bucketMeta).Get(keyRecovery) != nil
		return nil
	})
	if !pending {
		return nil
	}
	var r *Recovery
	err := db.update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		stored := meta.Get(keyRecovery)
		if stored == nil {
			return nil
		}
		v, err := ParseRecord(keyRecovery, stored)
		if err == nil {
			r = new(Recovery)
			err = json.Unmarshal(v, r)
		}
		if err != nil {
			r = &Recovery{File: db.path, Reason: "a damaged snapshot was replaced (its details are unreadable)"}
		}
		return meta.Delete(keyRecovery)
	})
	if err != nil {
		return nil
	}
	return r
}

// Ancestor returns the agreed state of every path, sorted by tree.Compare.
// It sees only what Writers have flushed.
func (db *DB) Ancestor() ([]tree.Entry, error) {
	var out []tree.Entry
	err := db.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAncestor)
		out = make([]tree.Entry, 0, b.Stats().KeyN)
		return b.ForEach(func(k, v []byte) error {
			e, err := parseStoredEntry(k, v)
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

// Reset forgets the ancestor, every scan cache and every conflict, so the
// next pass starts as if the job were new. The last pass record stays.
func (db *DB) Reset() error {
	err := db.update(func(tx *bolt.Tx) error {
		var drop [][]byte
		err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			s := string(name)
			if s == string(bucketAncestor) || s == string(bucketConflicts) ||
				strings.HasPrefix(s, cachePrefix) || strings.HasPrefix(s, chunksPrefix) {
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
		if err := tx.Bucket(bucketMeta).Delete(keyTotals); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Delete(keyPair)
	})
	if err != nil {
		return fmt.Errorf("unable to reset snapshot %s: %w", db.path, err)
	}
	return nil
}
