package localfs

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/internal/cputime"
	"github.com/ferry-sync/ferry/tree"
)

// BenchmarkCreateCommitSmall receives b.N new 10 KB files, spread over a few
// directories, through CreateFile, WriteAt and Commit: the per-file cost of
// the "small" workload on the receiving side. Count system calls with
//
//	go test -c -o /tmp/localfs.test ./localfs
//	strace -f -c -o /tmp/sc.txt /tmp/localfs.test -test.run '^$' -test.bench CreateCommitSmall -test.benchtime 2000x
func BenchmarkCreateCommitSmall(b *testing.B) {
	const dirs, size = 4, 10 << 10
	root := b.TempDir()
	f := newFS(b, root, Options{})
	defer f.Close()
	ctx := context.Background()
	data, meta := smallFiles(b, f, dirs, size)
	b.ResetTimer()
	start, cpu0 := time.Now(), cputime.Used()
	for i := 0; b.Loop(); i++ {
		meta.Path = fmt.Sprintf("d%d/f%07d", i%dirs, i)
		w, err := f.CreateFile(ctx, meta, tree.Entry{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.WriteAt(data, 0); err != nil {
			b.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/file")
	// Wall time is mostly waiting for fsync; the CPU time (user+system, of
	// the whole process) is what many files in flight compete for.
	b.ReportMetric(float64((cputime.Used()-cpu0).Microseconds())/float64(b.N), "cpu-µs/file")
}

// BenchmarkCreateCommitSmallConcurrent is BenchmarkCreateCommitSmall as the
// UDP receiver runs it: 32 commits at once (transport/data's
// commitWorkers) into 4 directories. dir-fsyncs/file shows how many
// commits each directory fsync served.
func BenchmarkCreateCommitSmallConcurrent(b *testing.B) {
	const dirs, size, workers = 4, 10 << 10, 32
	root := b.TempDir()
	f := newFS(b, root, Options{})
	defer f.Close()
	var dirSyncs atomic.Int64
	f.dirs.fsync = func(df *os.File) error {
		dirSyncs.Add(1)
		return syncDir(df)
	}
	ctx := context.Background()
	data, meta := smallFiles(b, f, dirs, size)
	b.ResetTimer()
	start, cpu0 := time.Now(), cputime.Used()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				m := meta
				m.Path = fmt.Sprintf("d%d/f%07d", i%dirs, i)
				w, err := f.CreateFile(ctx, m, tree.Entry{})
				if err == nil {
					if _, err = w.WriteAt(data, 0); err == nil {
						err = w.Commit()
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/file")
	b.ReportMetric(float64((cputime.Used()-cpu0).Microseconds())/float64(b.N), "cpu-µs/file")
	b.ReportMetric(float64(dirSyncs.Load())/float64(b.N), "dir-fsyncs/file")
}

// smallFiles makes directories d0..d(dirs-1) in f and returns the content
// and metadata (but for the path) of the files the benchmarks write.
func smallFiles(b *testing.B, f *FS, dirs, size int) ([]byte, tree.Entry) {
	for d := range dirs {
		if err := f.Mkdir(context.Background(), fmt.Sprintf("d%d", d), 0); err != nil {
			b.Fatal(err)
		}
	}
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	return data, tree.Entry{Kind: tree.File, Size: int64(size), Mode: 0o644, Mtime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano(), Hash: xxhash.Sum64(data)}
}
