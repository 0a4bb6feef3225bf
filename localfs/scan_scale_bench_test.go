package localfs

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/internal/gentree"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/tree"
)

// These benchmarks run what `ferry sync` runs for two local folders (the
// snapshot database, both scan caches, both localfs endpoints and a whole
// syncer.Pass) so that scripts/bench-scan.sh's whole-process figures can be
// profiled with -cpuprofile and -memprofile. By default they generate a
// flat tree of -ferry.files files (as `gentree -workload flat` does) and a
// copy of it; -ferry.local and -ferry.remote point them at existing equal
// trees instead, and -ferry.statedir at a state dir whose first pass is
// already done (bench-scan.sh leaves both in its BENCH_DIR).
var (
	scaleLocal    = flag.String("ferry.local", "", "existing local tree for the scale benchmarks (default: generate -ferry.files files)")
	scaleRemote   = flag.String("ferry.remote", "", "existing tree equal to -ferry.local (default: a copy of it)")
	scaleStateDir = flag.String("ferry.statedir", "", "state dir of an earlier pass over the same trees (default: a fresh one, synced once)")
	scaleHeap     = flag.String("ferry.heapprofile", "", "write the live heap once both scans of the last pass are done (before the caches are committed) to this file")
)

// heapAtCommit writes the live heap to path before the first cache commit
// of a pass, when both scans' results and both caches are held.
type heapAtCommit struct {
	syncer.Committer
	path string
}

func (h heapAtCommit) Commit() error {
	runtime.GC()
	f, err := os.Create(h.path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return h.Committer.Commit()
}

// scaleTrees returns two equal trees and the number of files in them.
func scaleTrees(b *testing.B) (local, remote string, files int) {
	b.Helper()
	local, remote = *scaleLocal, *scaleRemote
	if local == "" {
		local = filepath.Join(b.TempDir(), "local")
		n := *benchFiles
		spec := gentree.Spec{Files: n, Dirs: max(n/1000, 1), MinSize: 100, MaxSize: 4000}
		if _, _, err := gentree.Generate(local, spec, 1); err != nil {
			b.Fatal(err)
		}
	}
	if remote == "" {
		remote = filepath.Join(b.TempDir(), "remote")
		if err := copyTree(local, remote); err != nil {
			b.Fatal(err)
		}
	}
	err := filepath.WalkDir(local, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files++
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return local, remote, files
}

// copyTree copies regular files and directories with their mtimes, like
// cp -a for the trees gentree writes.
func copyTree(src, dst string) error {
	var dirs []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			dirs = append(dirs, rel)
			return os.MkdirAll(to, fi.Mode().Perm())
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(to, data, fi.Mode().Perm()); err != nil {
				return err
			}
			return os.Chtimes(to, fi.ModTime(), fi.ModTime())
		}
		return fmt.Errorf("copyTree: %s is neither a file nor a directory", p)
	})
	if err != nil {
		return err
	}
	// Directory mtimes last, deepest first, once nothing is written below.
	for i := len(dirs) - 1; i >= 0; i-- {
		fi, err := os.Stat(filepath.Join(src, dirs[i]))
		if err != nil {
			return err
		}
		if err := os.Chtimes(filepath.Join(dst, dirs[i]), fi.ModTime(), fi.ModTime()); err != nil {
			return err
		}
	}
	return nil
}

func scaleJob(b *testing.B, local, remote, stateDir string) (*config.Config, *config.Job) {
	b.Helper()
	cfgPath := filepath.Join(b.TempDir(), "jobs.yaml")
	yaml := fmt.Sprintf("state_dir: %s\njobs:\n  - name: bench\n    local: %s\n    remote: %s\n    direction: two-way\n    max_delete: 100%%\n",
		stateDir, local, remote)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	job, ok := cfg.Job("bench")
	if !ok {
		b.Fatal("job bench missing from the generated jobs file")
	}
	return cfg, job
}

// timedScan records when its scan ended, to split a pass into phases.
type timedScan struct {
	endpoint.Endpoint
	end *time.Time
	mu  *sync.Mutex
}

func (t timedScan) Scan(ctx context.Context, opts endpoint.ScanOptions, visit func(tree.Entry) error) error {
	err := t.Endpoint.Scan(ctx, opts, visit)
	t.mu.Lock()
	if now := time.Now(); now.After(*t.end) {
		*t.end = now
	}
	t.mu.Unlock()
	return err
}

type passTimes struct{ open, scan, rest, close time.Duration }

// syncOnce is one `ferry sync` of two local folders: open the snapshot and
// both caches, run a pass, close. It fails b unless the pass moved nothing.
func syncOnce(b *testing.B, cfg *config.Config, job *config.Job, heapProfile string) passTimes {
	t0 := time.Now()
	db, err := snapshot.Open(cfg.DBPath(job.Name))
	if err != nil {
		b.Fatal(err)
	}
	var (
		eps    [2]endpoint.Endpoint
		caches []syncer.Committer
		mu     sync.Mutex
		scanAt time.Time
	)
	for i, side := range []struct{ name, root string }{{syncer.SideLocal, job.Local}, {syncer.SideRemote, job.Remote}} {
		c, err := db.Cache(side.name)
		if err != nil {
			b.Fatal(err)
		}
		f, err := New(side.root, Options{Cache: c, PartialSuffix: job.PartialSuffix})
		if err != nil {
			b.Fatal(err)
		}
		eps[i] = timedScan{Endpoint: f, end: &scanAt, mu: &mu}
		caches = append(caches, c)
	}
	if heapProfile != "" {
		caches[0] = heapAtCommit{Committer: caches[0], path: heapProfile}
	}
	t1 := time.Now()
	rec, err := syncer.Pass(context.Background(), syncer.Options{Job: *job, Local: eps[0], Remote: eps[1], DB: db, Caches: caches})
	if err != nil {
		b.Fatalf("pass: %v", err)
	}
	t2 := time.Now()
	if rec.Created+rec.Updated+rec.Deleted+rec.Conflicts+rec.Problems != 0 || rec.Bytes != 0 {
		b.Fatalf("pass over equal trees changed something: %+v", rec)
	}
	for _, ep := range eps {
		ep.Close()
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	return passTimes{open: t1.Sub(t0), scan: scanAt.Sub(t1), rest: t2.Sub(scanAt), close: time.Since(t2)}
}

// heapPeak samples the live heap until stop is called, which returns the
// highest value seen. The sampling period bounds how short a spike it sees.
func heapPeak() (stop func() uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	done := make(chan struct{})
	res := make(chan uint64)
	go func() {
		var peak uint64
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-done:
				res <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 { close(done); return <-res }
}

// BenchmarkScaleSyncNoChange is the no-change `ferry sync` of
// bench-scan.sh, in process: both sides lstat'ed, hashes from the cache.
// It reports the phases (open = snapshot and caches loaded; scan = both
// scans; rest = cache commit, ancestor load, reconcile and apply) and the
// peak live heap per file.
func BenchmarkScaleSyncNoChange(b *testing.B) {
	local, remote, files := scaleTrees(b)
	stateDir := *scaleStateDir
	if stateDir == "" {
		stateDir = b.TempDir()
	}
	cfg, job := scaleJob(b, local, remote, stateDir)
	syncOnce(b, cfg, job, "") // records both trees as equal, unless done already
	runtime.GC()
	var sum passTimes
	var peak uint64
	b.ResetTimer()
	for b.Loop() {
		stop := heapPeak()
		t := syncOnce(b, cfg, job, *scaleHeap)
		peak = max(peak, stop())
		sum.open += t.open
		sum.scan += t.scan
		sum.rest += t.rest
		sum.close += t.close
	}
	n := float64(b.N)
	b.ReportMetric(float64(files), "files")
	b.ReportMetric(float64(files)*n/b.Elapsed().Seconds(), "files/s")
	b.ReportMetric(sum.open.Seconds()*1e3/n, "open-ms")
	b.ReportMetric(sum.scan.Seconds()*1e3/n, "scan-ms")
	b.ReportMetric(sum.rest.Seconds()*1e3/n, "rest-ms")
	b.ReportMetric(sum.close.Seconds()*1e3/n, "close-ms")
	b.ReportMetric(float64(peak)/float64(files), "peak-heap-B/file")
}

// BenchmarkScaleScanNoChange is one side's share of it: a scan with a
// loaded snapshot.Cache, without the pass around it.
func BenchmarkScaleScanNoChange(b *testing.B) {
	local, _, files := scaleTrees(b)
	db, err := snapshot.Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	scan := func(c *snapshot.Cache) {
		f, err := New(local, Options{Cache: c})
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		seen := 0
		if err := f.Scan(context.Background(), endpoint.ScanOptions{}, func(e tree.Entry) error {
			if e.Kind == tree.File {
				seen++
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		if seen != files {
			b.Fatalf("scan saw %d files, want %d", seen, files)
		}
		if err := c.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	c, err := db.Cache(syncer.SideLocal)
	if err != nil {
		b.Fatal(err)
	}
	scan(c) // hashes everything once
	runtime.GC()
	var peak uint64
	b.ResetTimer()
	for b.Loop() {
		stop := heapPeak()
		scan(c)
		peak = max(peak, stop())
	}
	b.ReportMetric(float64(files)*float64(b.N)/b.Elapsed().Seconds(), "files/s")
	b.ReportMetric(float64(peak)/float64(files), "peak-heap-B/file")
}
