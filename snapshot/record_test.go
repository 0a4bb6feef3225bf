package snapshot

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/conflict"
	"github.com/ferry-sync/ferry/tree"
	bolt "go.etcd.io/bbolt"
)

func TestRecordRoundTrip(t *testing.T) {
	for i, e := range codecCases {
		k := appendKey(nil, fmt.Sprintf("dir/file%d", i))
		stored := AppendRecord([]byte("pre"), k, AppendEntry(nil, e))[len("pre"):]
		got, err := parseStoredEntry(k, stored)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		e.Path = keyPath(k)
		if got != e {
			t.Fatalf("case %d: got %+v, want %+v", i, got, e)
		}
	}
}

// TestRecordChecksumCatchesEveryBitFlip: no single flipped bit in the value,
// its checksum or its key goes unnoticed, even where the entry would still
// decode (a hash or an mtime).
func TestRecordChecksumCatchesEveryBitFlip(t *testing.T) {
	k := appendKey(nil, "photos/2026/beach.jpg")
	stored := AppendRecord(nil, k, AppendEntry(nil, codecCases[1]))
	for i := range len(stored) * 8 {
		bad := bytes.Clone(stored)
		bad[i/8] ^= 1 << (i % 8)
		if _, err := ParseRecord(k, bad); !errors.Is(err, ErrDamaged) {
			t.Fatalf("value bit %d flipped: err = %v, want ErrDamaged", i, err)
		}
	}
	for i := range len(k) * 8 {
		key := bytes.Clone(k)
		key[i/8] ^= 1 << (i % 8)
		if _, err := ParseRecord(key, stored); !errors.Is(err, ErrDamaged) {
			t.Fatalf("key bit %d flipped: err = %v, want ErrDamaged", i, err)
		}
	}
	for n := range ChecksumLen {
		if _, err := ParseRecord(k, stored[:n]); !errors.Is(err, ErrDamaged) {
			t.Fatalf("%d-byte record: err = %v, want ErrDamaged", n, err)
		}
	}
}

// TestRecordRejectsValidChecksumOfBadEntry: a record whose checksum is right
// but whose entry does not decode is damage too.
func TestRecordRejectsValidChecksumOfBadEntry(t *testing.T) {
	k := appendKey(nil, "x")
	if _, err := parseStoredEntry(k, AppendRecord(nil, k, []byte{0xff})); !errors.Is(err, ErrDamaged) || !errors.Is(err, ErrCorruptEntry) {
		t.Fatalf("err = %v, want ErrDamaged and ErrCorruptEntry", err)
	}
}

func FuzzParseRecord(f *testing.F) {
	for i, e := range codecCases {
		k := appendKey(nil, fmt.Sprintf("a/b%d", i))
		f.Add(k, AppendRecord(nil, k, AppendEntry(nil, e)))
	}
	f.Add([]byte("k"), []byte{})
	f.Add([]byte{}, []byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, k, stored []byte) {
		e, err := parseStoredEntry(k, stored)
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("error %v does not wrap ErrDamaged", err)
			}
			return
		}
		// Whatever is accepted is exactly what the encoder writes.
		if again := AppendRecord(nil, k, AppendEntry(nil, e)); !bytes.Equal(again, stored) {
			t.Fatalf("accepted %x, which re-encodes as %x", stored, again)
		}
	})
}

// flipHashes overwrites the 8 hash bytes of each entry's ancestor record
// in the file at path: bytes that still decode, so only a checksum can
// tell. bbolt copies pages on write, so a record can also sit in freed
// pages; every copy is changed, and so the live one. It returns how many
// bytes of live records it changed.
func flipHashes(t *testing.T, path string, entries ...tree.Entry) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for _, e := range entries {
		e.Ino = 0
		rec := append(appendKey(nil, e.Path), AppendEntry(nil, e)...)
		if e.Hash == 0 || e.Target != "" || !bytes.Contains(b, rec) {
			t.Fatalf("no ancestor record of %q with its hash last in the file", e.Path)
		}
		for off := 0; ; {
			i := bytes.Index(b[off:], rec)
			if i < 0 {
				break
			}
			at := int64(off + i + len(rec) - 8)
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, 8), at); err != nil {
				t.Fatal(err)
			}
			off += i + len(rec)
		}
		n += 8
	}
	return n
}

func manyFiles(n int) []tree.Entry {
	var out []tree.Entry
	for i := range n {
		out = append(out, file(fmt.Sprintf("d%02d/f%04d", i%10, i), int64(i+1), uint64(0x1000+i)))
	}
	return out
}

// TestFlippedPageIsMovedAsideOnOpen: 64 bytes flipped inside a live leaf
// page, where every entry still decodes, are caught when the file opens.
func TestFlippedPageIsMovedAsideOnOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.db")
	clock := newClock()
	db := openTest(t, path, clock)
	files := manyFiles(500)
	record(t, db, files...)
	db.Close()
	if n := flipHashes(t, path, files[100:108]...); n != 64 {
		t.Fatalf("flipped %d bytes", n)
	}
	db = openTest(t, path, clock)
	aside := fmt.Sprintf("%s.corrupt-%d", path, clock.Now().Unix())
	if _, err := os.Stat(aside); err != nil {
		t.Fatalf("damaged file not moved aside: %v", err)
	}
	if got := paths(t, db); len(got) != 0 {
		t.Fatalf("the fresh snapshot has an ancestor of %d entries", len(got))
	}
	if !strings.Contains(db.Recovered(), "checksum") {
		t.Errorf("Recovered() = %q, want the checksum named", db.Recovered())
	}
	r := db.TakeRecovery()
	if r == nil || r.File != path || r.MovedTo != aside || !strings.Contains(r.Reason, "checksum") {
		t.Fatalf("TakeRecovery() = %+v", r)
	}
	if again := db.TakeRecovery(); again != nil {
		t.Fatalf("the recovery was handed out twice: %+v", again)
	}
}

// TestRecoveryOutlivesAnOpenWithoutAPass: a command that only looks (status)
// must not swallow the note the next pass reports.
func TestRecoveryOutlivesAnOpenWithoutAPass(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.db")
	db := openTest(t, path, nil)
	files := manyFiles(50)
	record(t, db, files...)
	db.Close()
	flipHashes(t, path, files[3])
	db = openTest(t, path, nil)
	db.Close()
	db = openTest(t, path, nil)
	if r := db.TakeRecovery(); r == nil || !strings.Contains(r.Reason, "checksum") {
		t.Fatalf("after a second open, TakeRecovery() = %+v", r)
	}
}

// TestDamageAfterOpenIsRecovered: a page damaged while the file is open (an
// agent holds it for days) is caught on read, and Recover moves it aside
// and carries on with a fresh file that the same Writer fills.
func TestDamageAfterOpenIsRecovered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.db")
	clock := newClock()
	db := openTest(t, path, clock)
	files := manyFiles(300)
	record(t, db, files...)
	flipHashes(t, path, files[7:15]...)
	_, err := db.Ancestor()
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("Ancestor on a damaged page: %v, want ErrDamaged", err)
	}
	if err := db.Recover(err); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fmt.Sprintf("%s.corrupt-%d", path, clock.Now().Unix())); err != nil {
		t.Fatalf("damaged file not moved aside: %v", err)
	}
	if r := db.TakeRecovery(); r == nil || !strings.Contains(r.Reason, "checksum") {
		t.Fatalf("TakeRecovery() = %+v", r)
	}
	if got := paths(t, db); len(got) != 0 {
		t.Fatalf("fresh snapshot has %d entries", len(got))
	}
	record(t, db, files[0])
	if got := paths(t, db); !slices.Equal(got, []string{files[0].Path}) {
		t.Fatalf("fresh snapshot: %q", got)
	}
}

// TestSchemaV1IsConverted: a file written before checksums keeps its
// ancestor, pair, conflicts and last pass, now with checksums.
func TestSchemaV1IsConverted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.db")
	files := manyFiles(40)
	c := conflict.Record{Path: "d01/f0001", Reason: conflict.BothModified}
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		mk := func(name []byte) *bolt.Bucket {
			bk, err := tx.CreateBucket(name)
			if err != nil {
				t.Fatal(err)
			}
			return bk
		}
		meta, anc, cache, confl, passes := mk(bucketMeta), mk(bucketAncestor), mk([]byte(cachePrefix+"local")), mk(bucketConflicts), mk(bucketPasses)
		must := func(err error) {
			if err != nil {
				t.Fatal(err)
			}
		}
		must(meta.Put(keySchema, binary.BigEndian.AppendUint32(nil, schemaV1)))
		must(meta.Put(keyPair, []byte("/a <-> /b")))
		for _, e := range files {
			must(anc.Put(appendKey(nil, e.Path), AppendEntry(nil, e)))
			e.Ino = 99
			must(cache.Put(appendKey(nil, e.Path), AppendEntry(nil, e)))
		}
		cj, _ := json.Marshal(c)
		must(confl.Put(appendKey(nil, c.Path), cj))
		pj, _ := json.Marshal(PassRecord{Created: 40})
		return passes.Put(keyLastPass, pj)
	})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()

	db := openTest(t, path, nil)
	if msg := db.Recovered(); msg != "" {
		t.Fatalf("a sound schema 1 file was replaced: %s", msg)
	}
	got, err := db.Ancestor()
	if err != nil || len(got) != len(files) {
		t.Fatalf("ancestor after conversion: %d entries, %v", len(got), err)
	}
	if pair, err := db.Pair(); pair != "/a <-> /b" || err != nil {
		t.Fatalf("pair %q, %v", pair, err)
	}
	if cs, err := db.Conflicts(); err != nil || len(cs) != 1 || cs[0].Path != c.Path {
		t.Fatalf("conflicts %+v, %v", cs, err)
	}
	if p, ok, err := db.LastPass(); err != nil || !ok || p.Created != 40 {
		t.Fatalf("last pass %+v %v %v", p, ok, err)
	}
	cache, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := cache.Lookup(files[5].Path); !ok || e.Ino != 99 {
		t.Fatalf("cache entry %+v %v", e, ok)
	}
	db.Close()
	// Converted for good: it now carries checksums that catch a flip.
	flipHashes(t, path, files[9])
	clock := newClock()
	db = openTest(t, path, clock)
	if !strings.Contains(db.Recovered(), "checksum") {
		t.Fatalf("a flip in the converted file went unnoticed: %q", db.Recovered())
	}
}
