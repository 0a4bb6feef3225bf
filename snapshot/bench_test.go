package snapshot

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/tree"
)

const benchEntries = 100_000

// benchDB writes benchEntries ancestor entries shaped like a real tree:
// 1000 directories of 99 files each.
func benchDB(b *testing.B) (string, int64) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.db")
	db, err := open(path, options{})
	if err != nil {
		b.Fatal(err)
	}
	w := db.Writer()
	n := 0
	for d := 0; n < benchEntries; d++ {
		dirPath := fmt.Sprintf("projects/p%02d/src/module-%04d", d%37, d)
		if err := w.Record(tree.Entry{Path: dirPath, Kind: tree.Dir, Mode: 0o755, Mtime: time.Now().UnixNano()}); err != nil {
			b.Fatal(err)
		}
		n++
		for f := 0; f < 99 && n < benchEntries; f++ {
			e := tree.Entry{
				Path: fmt.Sprintf("%s/file_%03d.go", dirPath, f), Kind: tree.File,
				Size: int64(1000 + f*37), Mtime: 1_700_000_000_000_000_000 + int64(n)*1_000_003,
				Mode: 0o644, Hash: uint64(n) * 0x9e3779b97f4a7c15,
			}
			if err := w.Record(e); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, st.Size()
}

// BenchmarkAncestorLoad measures reading the whole ancestor, as every pass
// does; bytes/entry is the file size on disk.
func BenchmarkAncestorLoad(b *testing.B) {
	path, size := benchDB(b)
	db, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		entries, err := db.Ancestor()
		if err != nil {
			b.Fatal(err)
		}
		if len(entries) != benchEntries {
			b.Fatalf("loaded %d entries", len(entries))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchEntries, "ns/entry")
	b.ReportMetric(float64(size)/benchEntries, "bytes/entry")
}

// BenchmarkOpen measures Open of a 100k-entry snapshot, which reads every
// page once to catch damage early.
func BenchmarkOpen(b *testing.B) {
	path, _ := benchDB(b)
	for b.Loop() {
		db, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchEntries, "ns/entry")
}

// BenchmarkCacheHeap measures the live heap a side's scan cache holds for
// 100,000 files during a no-change rescan, at its fullest: after every file
// was looked up and stored again (as a scan does, in scan order) and before
// the Commit that ends the scan (heap-B/file). The Commit must then write
// nothing; ns/file is the cost of the lookups, stores and commit.
func BenchmarkCacheHeap(b *testing.B) {
	path := filepath.Join(b.TempDir(), "cache.db")
	db, err := open(path, options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	entries := make([]tree.Entry, benchEntries)
	for i := range entries {
		entries[i] = tree.Entry{Path: fmt.Sprintf("projects/p%02d/src/module-%04d/file_%03d.go", i/(benchEntries/37+1), i/99, i%99), Kind: tree.File,
			Size: int64(1000 + i%977), Mtime: 1_700_000_000_000_000_000 + int64(i)*1_000_003, Mode: 0o644, Ino: uint64(i) + 7, Hash: uint64(i)*0x9e3779b97f4a7c15 + 1}
	}
	slices.SortFunc(entries, func(a, b tree.Entry) int { return tree.Compare(a.Path, b.Path) })
	c, err := db.Cache("local")
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		c.Store(e)
	}
	if err := c.Commit(); err != nil {
		b.Fatal(err)
	}
	writes := func() int64 { st := db.bolt.Stats(); return st.TxStats.GetWrite() }
	written := writes()
	b.ResetTimer()
	var perFile float64
	for range b.N {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		c, err := db.Cache("local")
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range entries {
			if got, ok := c.Lookup(e.Path); !ok || got.Hash != e.Hash {
				b.Fatalf("Lookup(%s) = %+v, %v", e.Path, got, ok)
			}
			c.Store(e)
		}
		b.StopTimer()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		perFile = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / benchEntries
		b.StartTimer()
		if err := c.Commit(); err != nil {
			b.Fatal(err)
		}
		runtime.KeepAlive(c)
	}
	b.ReportMetric(perFile, "heap-B/file")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchEntries, "ns/file")
	if w := writes(); w != written {
		b.Fatalf("no-change commits wrote %d pages", w-written)
	}
}
