package localfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// TestHashLaterReadsOnceAndTheCacheLearns: a scan with HashLater reads no
// file the cache does not know; a copy's reader, read whole, gives each
// file's hash and hands it to the cache, so that the next scan reads
// nothing either and lists every file hashed.
func TestHashLaterReadsOnceAndTheCacheLearns(t *testing.T) {
	root := t.TempDir()
	const files = 100
	for i := range files {
		if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("f%03d", i)), []byte(fmt.Sprint("content ", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cache := newMemCache()
	f := newFS(t, root, Options{Cache: cache})
	defer f.Close()
	hashed := countHashes(f)
	before := readCalls(t)
	var got []tree.Entry
	if err := f.Scan(context.Background(), endpoint.ScanOptions{HashLater: true}, func(e tree.Entry) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if reads := readCalls(t) - before; reads > 20 || hashed.Load() != 0 {
		t.Fatalf("a HashLater scan made %d read calls and hashed %d files", reads, hashed.Load())
	}
	if len(got) != files {
		t.Fatalf("listed %d files, want %d", len(got), files)
	}
	for _, e := range got {
		if e.Hash != 0 {
			t.Fatalf("%s listed with a hash it did not read", e.Path)
		}
		r, err := f.OpenFile(context.Background(), e.Path)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, e.Size)
		if _, err := r.ReadAt(b, 0); err != nil {
			t.Fatal(err)
		}
		sum, err := r.(endpoint.HashingReader).Sum(e)
		r.Close()
		if err != nil || sum != xxhash.Sum64(b) {
			t.Fatalf("%s: Sum %x, %v; want %x", e.Path, sum, err, xxhash.Sum64(b))
		}
	}
	if cache.learned != files {
		t.Fatalf("the cache learned %d hashes, want %d", cache.learned, files)
	}
	before = readCalls(t)
	again := scanAll(t, f)
	if reads := readCalls(t) - before; reads > 20 || hashed.Load() != 0 {
		t.Fatalf("the scan after the copies made %d read calls and hashed %d files", reads, hashed.Load())
	}
	for _, e := range again {
		data, _ := os.ReadFile(filepath.Join(root, e.Path))
		if e.Hash != xxhash.Sum64(data) {
			t.Fatalf("%s: hash %x, want %x", e.Path, e.Hash, xxhash.Sum64(data))
		}
	}
}

// TestHashingReaderRefusesPartialRead: a reader not read whole, or read
// out of order, gives no hash: it would be the hash of part of a file.
func TestHashingReaderRefusesPartialRead(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := newMemCache()
	f := newFS(t, root, Options{Cache: cache})
	defer f.Close()
	e, err := f.Stat(context.Background(), "f")
	if err != nil {
		t.Fatal(err)
	}
	for _, reads := range [][2]int64{{0, 5}, {5, 5}} {
		r, err := f.OpenFile(context.Background(), "f")
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, reads[1])
		if _, err := r.ReadAt(b, reads[0]); err != nil {
			t.Fatal(err)
		}
		if reads[0] > 0 {
			r.ReadAt(b, 0) // the rest, out of order
		}
		if sum, err := r.(endpoint.HashingReader).Sum(e); err == nil || errors.Is(err, endpoint.ErrChanged) {
			t.Errorf("reads %v: Sum = %x, %v; want an error that is not ErrChanged", reads, sum, err)
		}
		r.Close()
	}
	if cache.learned != 0 {
		t.Errorf("the cache learned %d hashes of partial reads", cache.learned)
	}
}
