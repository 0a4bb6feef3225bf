package localfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/internal/cputime"
)

// BenchmarkDurableFloor is the floor under a first sync of many small
// files, with none of ferry in it: b.N files of 2 KB (the bench tree's
// mean) created under a temporary name, written, made durable and renamed
// into place, 256 at a time (syncer's smallCopiers), 1,000 to a directory
// (gentree's flat workload), then each directory fsynced once. "fsync"
// fsyncs each file before its rename, as rsync --fsync does; "syncfs"
// makes them durable with one syncfs per 256 files, as localfs's group
// commit does at best; "none" does not, as rsync -a. Compare its files/s
// with `rsync -a` and `ferry sync` of the same count
// (scripts/bench-scan.sh):
//
//	go test -run '^$' -bench DurableFloor -benchtime 20000x ./localfs/
func BenchmarkDurableFloor(b *testing.B) {
	for _, mode := range []string{"fsync", "syncfs", "none"} {
		b.Run(mode, func(b *testing.B) { durableFloor(b, mode) })
	}
}

func durableFloor(b *testing.B, mode string) {
	const workers, perDir, size = 256, 1000, 2 << 10
	root := b.TempDir()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	n := b.N
	dirs := (n + perDir - 1) / perDir
	for d := range dirs {
		if err := os.Mkdir(filepath.Join(root, fmt.Sprintf("d%03d", d)), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	rootDir, err := os.Open(root)
	if err != nil {
		b.Fatal(err)
	}
	defer rootDir.Close()
	// syncfs rounds: every workers-th file runs one for the files before
	// it, the others go on (the wait for a shared sync is not on their
	// CPU, only on the wall clock of the whole, as in the group commit).
	var mu sync.Mutex
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
				if i >= n {
					return
				}
				dir := filepath.Join(root, fmt.Sprintf("d%03d", i/perDir))
				tmp, final := filepath.Join(dir, fmt.Sprintf(".f%07d.tmp", i)), filepath.Join(dir, fmt.Sprintf("f%07d", i))
				f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
				if err == nil {
					_, err = f.Write(data)
					if err == nil && mode == "fsync" {
						err = f.Sync()
					}
					err = errors.Join(err, f.Close())
				}
				if err == nil {
					err = os.Rename(tmp, final)
				}
				if err == nil && mode == "syncfs" && i%workers == workers-1 {
					mu.Lock()
					err = syncFS(rootDir)
					mu.Unlock()
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
	if mode == "syncfs" {
		if err := syncFS(rootDir); err != nil {
			b.Fatal(err)
		}
	}
	if mode != "none" {
		for d := range dirs {
			df, err := os.Open(filepath.Join(root, fmt.Sprintf("d%03d", d)))
			if err != nil {
				b.Fatal(err)
			}
			err = df.Sync()
			df.Close()
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(n)/el.Seconds(), "files/s")
	b.ReportMetric(float64((cputime.Used()-cpu0).Microseconds())/float64(n), "cpu-µs/file")
}
