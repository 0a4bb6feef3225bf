package agent

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/halt"
	"github.com/ferry-sync/ferry/internal/watch"
	"github.com/ferry-sync/ferry/localfs"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
)

// openLocalFolders opens both sides of a job whose remote is a local
// folder (a NAS mount). Scans here hash every file (no cache): the trees
// are tiny.
func openLocalFolders(ctx context.Context, req OpenRequest) (endpoint.Endpoint, endpoint.Endpoint, error) {
	l, err := localfs.New(req.Job.Local, localfs.Options{PartialSuffix: req.Job.PartialSuffix})
	if err != nil {
		return nil, nil, err
	}
	r, err := localfs.New(req.Job.Remote, localfs.Options{PartialSuffix: req.Job.PartialSuffix})
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	return l, r, nil
}

// live runs a real-time agent on two temp folders with real passes.
type live struct {
	t             *testing.T
	a             *Agent
	local, remote string
	mu            sync.Mutex
	starts        []time.Time
	ends          []time.Time
}

func newLive(t testing.TB, job config.Job, setup func(a *Agent)) *live {
	tt, _ := t.(*testing.T)
	l := &live{t: tt, local: t.TempDir(), remote: t.TempDir()}
	job.Name = "live"
	job.Local, job.Remote = l.local, l.remote
	if job.Direction == "" {
		job.Direction = config.TwoWay
	}
	if job.Mode == "" {
		job.Mode = config.Continuous
	}
	cfg := &config.Config{File: "/etc/ferry/jobs.yaml", StateDir: t.TempDir(), Jobs: []config.Job{job}}
	a, err := New(cfg, Options{OpenWith: openLocalFolders})
	if err != nil {
		t.Fatal(err)
	}
	a.pass = func(ctx context.Context, opts syncer.Options) (snapshot.PassRecord, error) {
		l.mu.Lock()
		l.starts = append(l.starts, time.Now())
		l.mu.Unlock()
		rec, err := syncer.Pass(ctx, opts)
		l.mu.Lock()
		l.ends = append(l.ends, time.Now())
		l.mu.Unlock()
		return rec, err
	}
	if setup != nil {
		setup(a)
	}
	l.a = a
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of cancel")
		}
	})
	return l
}

func (l *live) passes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ends)
}

// settle waits until the job is idle with nothing pending (its next pass
// is the far-off safety rescan), so a later change can only be seen
// through a watch.
func (l *live) settle(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s := l.a.Jobs()[0]
		if l.passes() > 0 && s.State == Idle && s.NextPass.After(time.Now().Add(time.Minute)) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("job did not settle within 10s: %+v", l.a.Jobs()[0])
}

// arrive waits (at most 10s) for path to hold want and returns how long
// that took from since.
func arrive(t testing.TB, path string, want []byte, since time.Time) time.Duration {
	t.Helper()
	deadline := since.Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if got, err := os.ReadFile(path); err == nil && bytes.Equal(got, want) {
			return time.Since(since)
		}
		time.Sleep(2 * time.Millisecond)
	}
	got, err := os.ReadFile(path)
	t.Fatalf("%s did not arrive within 10s: have %q, %v", path, got, err)
	return 0
}

func TestContinuousSyncsBothWays(t *testing.T) {
	l := newLive(t, config.Job{Cooloff: 200 * time.Millisecond}, nil)
	l.settle(t)

	start := time.Now()
	if err := os.WriteFile(filepath.Join(l.local, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := arrive(t, filepath.Join(l.remote, "hello.txt"), []byte("hello\n"), start)
	t.Logf("local -> remote latency %s (cooloff 200ms)", d)

	// The remote is a local folder, so it is watched too.
	l.settle(t)
	start = time.Now()
	if err := os.WriteFile(filepath.Join(l.remote, "back.txt"), []byte("back\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d = arrive(t, filepath.Join(l.local, "back.txt"), []byte("back\n"), start)
	t.Logf("remote -> local latency %s (cooloff 200ms)", d)
}

func TestContinuousCooloffWaitsUntilFileIsStill(t *testing.T) {
	const cooloff = 1500 * time.Millisecond
	l := newLive(t, config.Job{Cooloff: cooloff}, nil)
	l.settle(t)
	before := l.passes()

	// Write a file in 20 chunks, 50ms apart: well inside the cool-off,
	// unless the machine stalls this goroutine; each write's span is
	// recorded, so a stall makes no false failure.
	path := filepath.Join(l.local, "big.bin")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	type span struct{ from, to time.Time } // the write happened within
	var writes []span
	for i := range 20 {
		if i > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		chunk := bytes.Repeat([]byte{byte('a' + i)}, 4096)
		from := time.Now()
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
		writes = append(writes, span{from, time.Now()})
		want = append(want, chunk...)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	lastWrite := writes[len(writes)-1].to
	arrive(t, filepath.Join(l.remote, "big.bin"), want, lastWrite)

	l.mu.Lock()
	starts := slices.Clone(l.starts[before:])
	l.mu.Unlock()
	if len(starts) == 0 {
		t.Fatal("file arrived without a pass")
	}
	// No pass may start while the file has been still for less than the
	// cool-off: a write that surely ended before a pass started and
	// surely began less than cooloff before it (every event is handled
	// after its write) is a breach. Unless this goroutine stalled: if the
	// file was in fact still for a cool-off between two writes before the
	// pass, the agent rightly decided on a pass then, and may start it
	// after the next write.
	const slack = 10 * time.Millisecond
	for _, s := range starts {
		stalled := time.Duration(0)
		for j := 1; j < len(writes) && writes[j-1].to.Before(s); j++ {
			end := writes[j].from
			if s.Before(end) {
				end = s
			}
			stalled = max(stalled, end.Sub(writes[j-1].to))
		}
		if stalled >= cooloff-slack {
			t.Logf("a pass started during the writes after the writer stalled for %s; not judged", stalled)
			continue
		}
		for i, w := range writes {
			if !w.to.After(s) && w.from.After(s.Add(-cooloff+slack)) {
				t.Fatalf("a pass started %s after write %d of 20, before the file was still for %s", s.Sub(w.to), i+1, cooloff)
			}
		}
	}
	t.Logf("first pass started %s after the last chunk", starts[0].Sub(lastWrite))
}

func TestContinuousWatchesNewSubdirectories(t *testing.T) {
	l := newLive(t, config.Job{Cooloff: 100 * time.Millisecond, MaxDelete: config.Limit{IsPercent: true, Percent: 100}}, nil)
	// A file outside the tree keeps its removal from looking like an
	// emptied root, which would halt the job.
	if err := os.WriteFile(filepath.Join(l.local, "keep.txt"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	arrive(t, filepath.Join(l.remote, "keep.txt"), []byte("k"), time.Now())
	l.settle(t)
	dir := filepath.Join(l.local, "a", "b", "c")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "one.txt"), []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	arrive(t, filepath.Join(l.remote, "a", "b", "c", "one.txt"), []byte("1"), time.Now())
	// Only a watch on the new a/b/c can bring this one over: nothing else
	// is pending and the safety rescan is 10 minutes away.
	l.settle(t)
	start := time.Now()
	if err := os.WriteFile(filepath.Join(dir, "two.txt"), []byte("2"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := arrive(t, filepath.Join(l.remote, "a", "b", "c", "two.txt"), []byte("2"), start)
	t.Logf("file in a new nested directory arrived after %s", d)

	// Removing the tree drops its watches; recreating it watches again.
	if err := os.RemoveAll(filepath.Join(l.local, "a")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a removed on the remote", func() bool {
		_, err := os.Lstat(filepath.Join(l.remote, "a"))
		return os.IsNotExist(err)
	})
	l.settle(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	l.settle(t)
	if err := os.WriteFile(filepath.Join(dir, "three.txt"), []byte("3"), 0o644); err != nil {
		t.Fatal(err)
	}
	arrive(t, filepath.Join(l.remote, "a", "b", "c", "three.txt"), []byte("3"), time.Now())
}

// lossyWatcher is a real watcher whose events can be dropped and whose
// error channel the test feeds, to play an inotify queue overflow.
type lossyWatcher struct {
	watch.Watcher
	drop   atomic.Bool
	events chan fsnotify.Event
	errs   chan error
}

func newLossyWatcher() (*lossyWatcher, error) {
	w, err := watch.NewFS()
	if err != nil {
		return nil, err
	}
	lw := &lossyWatcher{Watcher: w, events: make(chan fsnotify.Event, 1024), errs: make(chan error, 16)}
	go func() {
		defer close(lw.events)
		for ev := range w.Events() {
			if !lw.drop.Load() {
				lw.events <- ev
			}
		}
	}()
	go func() {
		for err := range w.Errors() {
			lw.errs <- err
		}
	}()
	return lw, nil
}

func (w *lossyWatcher) Events() <-chan fsnotify.Event { return w.events }
func (w *lossyWatcher) Errors() <-chan error          { return w.errs }

func TestContinuousOverflowTriggersRescan(t *testing.T) {
	var lw *lossyWatcher
	l := newLive(t, config.Job{Cooloff: 100 * time.Millisecond}, func(a *Agent) {
		a.newWatcher = func() (watch.Watcher, error) {
			w, err := newLossyWatcher()
			lw = w
			return w, err
		}
	})
	l.settle(t)
	lw.drop.Store(true) // the kernel queue overflows: these events are lost
	if err := os.MkdirAll(filepath.Join(l.local, "lost", "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.local, "lost", "deep", "f.txt"), []byte("f"), 0o644); err != nil {
		t.Fatal(err)
	}
	lw.drop.Store(false)
	start := time.Now()
	lw.errs <- fsnotify.ErrEventOverflow
	arrive(t, filepath.Join(l.remote, "lost", "deep", "f.txt"), []byte("f"), start)

	// The rescan also watched the directories whose creation was lost.
	l.settle(t)
	if err := os.WriteFile(filepath.Join(l.local, "lost", "deep", "g.txt"), []byte("g"), 0o644); err != nil {
		t.Fatal(err)
	}
	arrive(t, filepath.Join(l.remote, "lost", "deep", "g.txt"), []byte("g"), time.Now())
}

func TestContinuousStopIgnoresChangesAndResumeCatchesUp(t *testing.T) {
	l := newLive(t, config.Job{Cooloff: 100 * time.Millisecond}, nil)
	l.settle(t)
	if err := l.a.Stop("live"); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	n := len(l.starts)
	l.mu.Unlock()
	if err := os.WriteFile(filepath.Join(l.local, "while-stopped.txt"), []byte("s"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s := l.a.Jobs()[0]; s.State != Stopped {
		t.Fatalf("state %q after Stop", s.State)
	}
	if err := l.a.Resume("live"); err != nil {
		t.Fatal(err)
	}
	arrive(t, filepath.Join(l.remote, "while-stopped.txt"), []byte("s"), time.Now())
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.starts) <= n {
		t.Fatal("file arrived without a pass after resume")
	}
}

func TestContinuousPollsFerryRemote(t *testing.T) {
	local := t.TempDir()
	job := config.Job{Name: "j", Local: local, Remote: "ferry://ann@127.0.0.1:33001/srv", Mode: config.Continuous,
		RemoteURL: &config.RemoteURL{User: "ann", Host: "127.0.0.1", Port: 33001, Path: "/srv"}, Interval: time.Minute}
	h := newHarness(t, testConfig(t, job), takes(2*time.Second))
	first := h.nextPass()
	want := first.end.Add(time.Minute)
	// Time must not move before the loop has taken in the pass's end.
	waitFor(t, "the next pass one interval after the last ("+want.String()+")", func() bool {
		return h.a.Jobs()[0].NextPass.Equal(want)
	})
	// The loop also wakes every rootCheck to look at the local root; step
	// through those wake-ups, which must not start a pass.
	for i := 0; ; i++ {
		at := h.clock.waitTimer(t)
		if at.After(want) || i > int(time.Minute/rootCheck)+1 {
			t.Fatalf("no wake-up for the next pass of a ferry:// remote at %s, one interval after the last; next at %s", want, at)
		}
		h.clock.AdvanceTo(at)
		if at.Equal(want) {
			break
		}
	}
	if c := h.nextPass(); !c.start.Equal(want) {
		t.Fatalf("poll pass started at %s, want %s", c.start, want)
	}
}

func benchLatency(b *testing.B, cooloff time.Duration) {
	l := newLive(b, config.Job{Cooloff: cooloff}, nil)
	l.settle(b)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("f%d.txt", i)
		body := []byte(name)
		start := time.Now()
		if err := os.WriteFile(filepath.Join(l.local, name), body, 0o644); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, arrive(b, filepath.Join(l.remote, name), body, start))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(pct(0.5), "p50_ms")
	b.ReportMetric(pct(0.9), "p90_ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkContinuousLatency measures write-to-arrival of a small file
// between two local folders. Run with -benchtime=20x for stable
// percentiles.
func BenchmarkContinuousLatency(b *testing.B) {
	b.Run("cooloff=1s", func(b *testing.B) { benchLatency(b, time.Second) })
	b.Run("cooloff=200ms", func(b *testing.B) { benchLatency(b, 200*time.Millisecond) })
}

func TestHaltedSignatureReportsTouchFixAndRecovers(t *testing.T) {
	l := newLive(t, config.Job{Mode: config.Interval, Interval: time.Hour, LocalSignature: ".ferry-signature"}, nil)
	waitFor(t, "halted", func() bool { return l.a.Jobs()[0].State == Halted })
	s := l.a.Jobs()[0]
	sig := filepath.Join(l.local, ".ferry-signature")
	if s.Halt == nil || s.Halt.Kind != halt.SignatureMissing || s.Halt.Path != sig || s.Halted != s.Halt.Reason() ||
		!strings.Contains(s.Fix, "touch "+sig) || strings.Contains(s.Fix, "ferry resume") {
		t.Fatalf("halt %+v\nhalted %q\nfix %q", s.Halt, s.Halted, s.Fix)
	}
	if s.Last == nil || s.Last.Halted == "" {
		t.Fatalf("last pass does not record the halt: %+v", s.Last)
	}
	if err := os.WriteFile(sig, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.a.SyncNow("live"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "recovered", func() bool {
		s := l.a.Jobs()[0]
		return s.State == Idle && s.Halted == "" && s.Last != nil && s.Last.Halted == ""
	})
}

func TestLastPassSurvivesRestart(t *testing.T) {
	state, local, remote := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(local, "x.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	job := config.Job{Name: "j", Local: local, Remote: remote, Direction: config.TwoWay, Interval: time.Hour}
	runUntil := func(job config.Job, cond func(JobStatus) bool) JobStatus {
		a, err := New(&config.Config{File: "/f.yaml", StateDir: state, Jobs: []config.Job{job}}, Options{OpenWith: openLocalFolders})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		var s JobStatus
		waitFor(t, "status", func() bool { s = a.Jobs()[0]; return cond(s) })
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := runUntil(job, func(s JobStatus) bool { return s.Last != nil && s.State == Idle })
	if first.Last.Created == 0 || first.Last.Err != "" {
		t.Fatalf("first pass: %+v", first.Last)
	}
	// A scheduled job does not pass at start, so what it shows comes from
	// the snapshot.
	job.Mode, job.Schedule = config.Schedule, "0 0 1 1 *"
	second := runUntil(job, func(s JobStatus) bool { return s.Last != nil })
	if !second.Last.End.Equal(first.Last.End) || second.Last.Created != first.Last.Created {
		t.Fatalf("after restart last pass %+v, want %+v", second.Last, first.Last)
	}
}
