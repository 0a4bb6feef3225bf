package snapshot

import (
	"encoding/json"
	"fmt"

	"github.com/ferry-sync/ferry/conflict"
	"github.com/ferry-sync/ferry/tree"
	bolt "go.etcd.io/bbolt"
)

// Conflicts returns the unresolved conflicts sorted by tree.Compare of
// their paths.
func (db *DB) Conflicts() ([]conflict.Record, error) {
	var out []conflict.Record
	err := db.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketConflicts).ForEach(func(k, stored []byte) error {
			v, err := ParseRecord(k, stored)
			if err != nil {
				return err
			}
			var r conflict.Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("conflict %q: %w", keyPath(k), err)
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("unable to read conflicts from %s: %w", db.path, err)
	}
	return out, nil
}

// PutConflict records r, replacing any earlier conflict on the same path.
func (db *DB) PutConflict(r conflict.Record) error {
	if err := tree.ValidPath(r.Path); err != nil {
		return fmt.Errorf("unable to record conflict: %w", err)
	}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("unable to encode conflict %q: %w", r.Path, err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		k := appendKey(nil, r.Path)
		return tx.Bucket(bucketConflicts).Put(k, AppendRecord(nil, k, v))
	})
	if err != nil {
		return fmt.Errorf("unable to record conflict %q in %s: %w", r.Path, db.path, err)
	}
	return nil
}

// ClearConflict forgets the conflict on path, if there is one.
func (db *DB) ClearConflict(path string) error {
	err := db.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketConflicts).Delete(appendKey(nil, path))
	})
	if err != nil {
		return fmt.Errorf("unable to clear conflict %q in %s: %w", path, db.path, err)
	}
	return nil
}

// PutPass stores p as the last pass.
func (db *DB) PutPass(p PassRecord) error {
	v, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("unable to encode pass record: %w", err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPasses).Put(keyLastPass, AppendRecord(nil, keyLastPass, v))
	})
	if err != nil {
		return fmt.Errorf("unable to record pass in %s: %w", db.path, err)
	}
	return nil
}

// LastPass returns the last stored pass; ok is false if none was stored.
func (db *DB) LastPass() (p PassRecord, ok bool, err error) {
	err = db.view(func(tx *bolt.Tx) error {
		stored := tx.Bucket(bucketPasses).Get(keyLastPass)
		if stored == nil {
			return nil
		}
		v, err := ParseRecord(keyLastPass, stored)
		if err != nil {
			return err
		}
		ok = true
		return json.Unmarshal(v, &p)
	})
	if err != nil {
		return PassRecord{}, false, fmt.Errorf("unable to read last pass from %s: %w", db.path, err)
	}
	return p, ok, nil
}

// keyPair names, in the meta bucket, the folder pair the ancestor describes.
var keyPair = []byte("pair")

// Pair returns the folder pair (as SetPair stored it) the ancestor was
// built from, or "" before the first pass and after Reset.
func (db *DB) Pair() (string, error) {
	var pair string
	err := db.view(func(tx *bolt.Tx) error {
		stored := tx.Bucket(bucketMeta).Get(keyPair)
		if stored == nil {
			return nil
		}
		v, err := ParseRecord(keyPair, stored)
		pair = string(v)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("unable to read the folder pair from %s: %w", db.path, err)
	}
	return pair, nil
}

// SetPair records the folder pair the ancestor describes, so that a job
// later pointed at other folders is not reconciled against records of
// these (which would read as deletions).
func (db *DB) SetPair(pair string) error {
	err := db.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyPair, AppendRecord(nil, keyPair, []byte(pair)))
	})
	if err != nil {
		return fmt.Errorf("unable to record the folder pair in %s: %w", db.path, err)
	}
	return nil
}
