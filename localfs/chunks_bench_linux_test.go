package localfs

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/internal/gentree"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/tree"
)

// BenchmarkScanTreeWorkload scans the `tree` workload of BENCH.md (one
// 200 MiB file and 2,000 files of 1-100 KB, page-cached) with a snapshot
// scan cache, with and without chunk lists (Options.Chunks), first with an
// empty cache (every file read; the lists computed and written at Commit)
// and then unchanged (nothing read). Beside wall time it reports the
// process's CPU time per scan (cpu-ms), the figure to compare on a shared
// machine; the share of the first scan that chunk lists cost is
// 1 - cpu-ms(lists=off) / cpu-ms(lists=on).
func BenchmarkScanTreeWorkload(b *testing.B) {
	spec, err := gentree.Workload("tree")
	if err != nil {
		b.Fatal(err)
	}
	root := b.TempDir()
	files, _, err := gentree.Generate(root, spec, 1)
	if err != nil {
		b.Fatal(err)
	}
	for _, lists := range []bool{false, true} {
		for _, warm := range []bool{false, true} {
			name := fmt.Sprintf("lists=%v/%s", map[bool]string{false: "off", true: "on"}[lists], map[bool]string{false: "initial", true: "rescan"}[warm])
			b.Run(name, func(b *testing.B) {
				scanTree(b, root, files, lists, warm)
			})
		}
	}
}

func scanTree(b *testing.B, root string, files int, lists, warm bool) {
	dir := b.TempDir()
	run := 0
	scan := func(cache *snapshot.Cache) {
		opts := Options{Cache: cache}
		if lists {
			opts.Chunks = cache
		}
		f, err := New(root, opts)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		n := 0
		if err := f.Scan(context.Background(), endpoint.ScanOptions{}, func(e tree.Entry) error {
			if e.Kind == tree.File {
				n++
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		if n != files {
			b.Fatalf("scan saw %d files, want %d", n, files)
		}
		if err := cache.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	open := func() (*snapshot.DB, *snapshot.Cache) {
		run++
		db, err := snapshot.Open(filepath.Join(dir, fmt.Sprintf("%d.db", run)))
		if err != nil {
			b.Fatal(err)
		}
		c, err := db.Cache("local")
		if err != nil {
			b.Fatal(err)
		}
		return db, c
	}
	var db *snapshot.DB
	var cache *snapshot.Cache
	if warm {
		db, cache = open()
		defer db.Close()
		scan(cache)
	}
	var cpu time.Duration
	b.ResetTimer()
	for b.Loop() {
		if !warm {
			b.StopTimer()
			db, cache = open()
			b.StartTimer()
		}
		t0 := cpuTime()
		scan(cache)
		cpu += cpuTime() - t0
		if !warm {
			b.StopTimer()
			db.Close()
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "cpu-ms/op")
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
