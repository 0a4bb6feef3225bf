package syncer_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/syncer"
)

// BenchmarkFirstSyncSmallFiles syncs a tree of small files (100 to 4000
// bytes, 200 to a directory, like make bench-scan's) from a local folder
// into an empty one with an empty snapshot: the first sync of issue 13's
// target. It reports ferry's files/s and, where rsync is installed,
// rsync -a's on the same tree in the same run, and their ratio. 20,000
// files; 2,000 with -short.
//
//	go test -run '^$' -bench FirstSyncSmallFiles -benchtime 1x ./syncer
func BenchmarkFirstSyncSmallFiles(b *testing.B) {
	files := 20000
	if testing.Short() {
		files = 2000
	}
	src := smallTree(b, files)
	var ferry time.Duration
	for b.Loop() {
		e := newEnv(b)
		e.localDir, e.job.Local = src, src
		o := e.options()
		start := time.Now()
		rec, err := syncer.Pass(context.Background(), o)
		ferry += time.Since(start)
		if err != nil || rec.Created != files+files/200 {
			b.Fatalf("pass: %s, %v", summary(rec), err)
		}
	}
	fps := float64(files) * float64(b.N) / ferry.Seconds()
	b.ReportMetric(fps, "files/s")
	b.ReportMetric(0, "ns/op")
	if _, err := exec.LookPath("rsync"); err != nil {
		return
	}
	b.StopTimer()
	var rsync time.Duration
	for range b.N {
		dst := filepath.Join(b.TempDir(), "dst")
		start := time.Now()
		var stderr bytes.Buffer
		cmd := exec.Command("rsync", "-a", src+"/", dst+"/")
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("rsync -a: %v: %s", err, stderr.String())
		}
		rsync += time.Since(start)
	}
	rfps := float64(files) * float64(b.N) / rsync.Seconds()
	b.ReportMetric(rfps, "rsync-files/s")
	b.ReportMetric(rfps/fps, "x-rsync-time")
}

// smallTree makes a tree of files small files (100 to 4000 bytes, 200 to a
// directory, no two alike) in a temp folder and returns its path.
func smallTree(b testing.TB, files int) string {
	b.Helper()
	src := b.TempDir()
	rng := rand.New(rand.NewPCG(13, 3))
	buf := make([]byte, 4000)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	for i := range files {
		d := filepath.Join(src, fmt.Sprintf("d%03d", i/200))
		if i%200 == 0 {
			if err := os.Mkdir(d, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		buf[0], buf[1], buf[2] = byte(i), byte(i>>8), byte(i>>16) // no two alike
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%06d", i)), buf[:100+rng.IntN(3900)], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return src
}

// BenchmarkFirstSyncMemory measures the heap a first sync of small files
// holds (local to local, into an empty folder, empty snapshot), per file
// of the tree: live-B/file is the live heap once the plan is made and the
// transfers start (after a GC), peak-B/file the highest heap in use
// sampled every millisecond during the pass, both less the heap before
// it. 100,000 files; 10,000 with -short. FERRY_BENCH_HEAP=FILE writes a
// heap profile of what the pass holds when the transfers start.
//
//	go test -run '^$' -bench FirstSyncMemory -benchtime 1x ./syncer
func BenchmarkFirstSyncMemory(b *testing.B) {
	files := 100000
	if testing.Short() {
		files = 10000
	}
	src := smallTree(b, files)
	var live, peak float64
	for b.Loop() {
		e := newEnv(b)
		e.localDir, e.job.Local = src, src
		o := e.options()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		var once sync.Once
		var atApply uint64
		o.Observer = func(ev syncer.Event) {
			if ev.Phase != syncer.PhaseTransferring {
				return
			}
			once.Do(func() {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				atApply = ms.HeapInuse
				if f := os.Getenv("FERRY_BENCH_HEAP"); f != "" {
					writeHeap(b, f)
				}
			})
		}
		stop, sampled := sampleHeap()
		rec, err := syncer.Pass(context.Background(), o)
		top := max(stop(), atApply)
		<-sampled
		if err != nil || rec.Created != files+files/200 {
			b.Fatalf("pass: %s, %v", summary(rec), err)
		}
		live += float64(atApply) - float64(base)
		peak += float64(top) - float64(base)
	}
	b.ReportMetric(live/float64(b.N)/float64(files), "live-B/file")
	b.ReportMetric(peak/float64(b.N)/float64(files), "peak-B/file")
	b.ReportMetric(0, "ns/op")
}

// writeHeap writes a heap profile to file (FERRY_BENCH_HEAP names it: what
// the pass holds once the transfers start).
func writeHeap(b *testing.B, file string) {
	f, err := os.Create(file)
	if err != nil {
		b.Error(err)
		return
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Error(err)
	}
}

// sampleHeap samples HeapInuse every millisecond until stop, which
// returns the highest value seen; done is closed when the sampler ended.
func sampleHeap() (stop func() uint64, done chan struct{}) {
	quit := make(chan struct{})
	done = make(chan struct{})
	var top uint64
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			top = max(top, ms.HeapInuse)
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(quit)
		<-done
		return top
	}, done
}
