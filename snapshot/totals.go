package snapshot

import (
	"encoding/binary"
	"fmt"

	"github.com/ferry-sync/ferry/tree"
	bolt "go.etcd.io/bbolt"
)

// keyTotals names, in the meta bucket, the ancestor's Totals.
var keyTotals = []byte("totals")

// Totals counts the ancestor's records, so that a scoped pass, which reads
// only part of the ancestor, can still weigh its plan against the safety
// limits' shares of the whole tree.
type Totals struct {
	Entries int // every record
	Files   int // the regular files among them
}

// Totals returns the ancestor's counts; ok is false when none are kept
// (before a whole pass stored them, after Reset, in a replaced file).
// Once stored, every Writer flush keeps them up to date in the same
// transaction.
func (db *DB) Totals() (t Totals, ok bool, err error) {
	err = db.view(func(tx *bolt.Tx) error {
		stored := tx.Bucket(bucketMeta).Get(keyTotals)
		if stored == nil {
			return nil
		}
		v, err := ParseRecord(keyTotals, stored)
		if err != nil {
			return err
		}
		t, ok = parseTotals(v)
		return nil
	})
	if err != nil {
		return Totals{}, false, fmt.Errorf("unable to read the ancestor's totals from %s: %w", db.path, err)
	}
	return t, ok, nil
}

// SetTotals stores the ancestor's counts, as a pass that read all of it
// found them. Nothing else may write the ancestor meanwhile.
func (db *DB) SetTotals(t Totals) error {
	err := db.update(func(tx *bolt.Tx) error { return putTotals(tx.Bucket(bucketMeta), t) })
	if err != nil {
		return fmt.Errorf("unable to record the ancestor's totals in %s: %w", db.path, err)
	}
	return nil
}

func putTotals(meta *bolt.Bucket, t Totals) error {
	v := binary.AppendUvarint(nil, uint64(max(t.Entries, 0)))
	v = binary.AppendUvarint(v, uint64(max(t.Files, 0)))
	return meta.Put(keyTotals, AppendRecord(nil, keyTotals, v))
}

func parseTotals(v []byte) (Totals, bool) {
	e, n := binary.Uvarint(v)
	if n <= 0 {
		return Totals{}, false
	}
	f, m := binary.Uvarint(v[n:])
	if m <= 0 || n+m != len(v) {
		return Totals{}, false
	}
	return Totals{Entries: int(e), Files: int(f)}, true
}

// totalsDelta follows what one transaction does to the ancestor's counts.
type totalsDelta struct{ entries, files int }

// replaced counts the stored record old (nil: none) giving way to new
// (nil: removed).
func (d *totalsDelta) replaced(old, new []byte) {
	if old != nil {
		d.entries--
		if isFileRecord(old) {
			d.files--
		}
	}
	if new != nil {
		d.entries++
		if isFileRecord(new) {
			d.files++
		}
	}
}

// isFileRecord reads only the kind in the entry's first byte (see
// AppendEntry): every ancestor write passes here, and a full parse would
// checksum the record and build its path to learn one bit.
func isFileRecord(stored []byte) bool {
	return len(stored) > ChecksumLen && tree.Kind(stored[0]&kindMask) == tree.File
}

// apply adds d to the stored totals, if there are any.
func (d totalsDelta) apply(meta *bolt.Bucket) error {
	if d == (totalsDelta{}) {
		return nil
	}
	stored := meta.Get(keyTotals)
	if stored == nil {
		return nil
	}
	v, err := ParseRecord(keyTotals, stored)
	t, ok := parseTotals(v)
	if err != nil || !ok || t.Entries+d.entries < 0 || t.Files+d.files < 0 {
		// Counts that no longer add up are dropped: the next scoped pass
		// runs whole instead, and stores them afresh.
		return meta.Delete(keyTotals)
	}
	return putTotals(meta, Totals{Entries: t.Entries + d.entries, Files: t.Files + d.files})
}
