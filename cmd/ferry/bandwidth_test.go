package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/internal/demokit"
	"github.com/ferry-sync/ferry/service/api"
)

// servedJob is a real `ferry serve` process (this test binary re-executed)
// on loopback, with UDP data sessions, a fresh ed25519 key it trusts, and
// a local folder and a served folder for a job.
type servedJob struct {
	dir, local, served, identity string
	port                         int
}

func startServedJob(t testing.TB, ctx context.Context) *servedJob {
	t.Helper()
	dir := t.TempDir()
	s := &servedJob{dir: dir, local: filepath.Join(dir, "local"), identity: filepath.Join(dir, "id_ed25519")}
	root := filepath.Join(dir, "root")
	s.served = filepath.Join(root, "docs")
	for _, d := range []string{s.local, s.served} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	authKeys := filepath.Join(dir, "authorized_keys")
	if err := demokit.WriteKeys(s.identity, authKeys, "ferry demo"); err != nil {
		t.Fatal(err)
	}
	var err error
	if s.port, err = demokit.FreePort(); err != nil {
		t.Fatal(err)
	}
	srv, err := startDemoServer(ctx, &env{stdout: io.Discard, stderr: io.Discard}, dir, root, authKeys, s.port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.stop)
	return s
}

// jobs writes a jobs file with one job "j" between the two folders.
func (s *servedJob) jobs(t testing.TB, extra string) string {
	t.Helper()
	p := filepath.Join(s.dir, "jobs.yaml")
	write(t, p, fmt.Sprintf("state_dir: %s\njobs:\n  - name: j\n    local: %s\n    remote: ferry://tester@127.0.0.1:%d/docs\n    identity: %s\n    transport: udp\n%s",
		filepath.Join(s.dir, "state"), s.local, s.port, s.identity, extra))
	return p
}

// writeBig writes n bytes that do not compress. Files of other base names
// get other content: a receiver that already holds the same content makes
// a local copy instead of a transfer.
func writeBig(t *testing.T, path string, n int) {
	t.Helper()
	h := fnv.New64a()
	h.Write([]byte(filepath.Base(path)))
	r := rand.New(rand.NewPCG(1, h.Sum64())) // content only; timing does not depend on it
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

const (
	highCap = 16_000_000 // 2 MB/s
	lowCap  = 800_000    // 100 kB/s
)

// TestBandwidthChangeReachesRunningTransfer: a cap changed through the
// control API, as `ferry` users change it, slows an upload and a download
// that are already running through a real `ferry serve`, within 2 s. Rates
// are measured over windows of real time from the agent's per-file
// progress; the bounds leave room for a loaded machine and lost datagrams
// (before: well above the new cap; after: under twice it).
func TestBandwidthChangeReachesRunningTransfer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	const size = 12 << 20
	writeBig(t, filepath.Join(s.local, "up.bin"), size)
	writeBig(t, filepath.Join(s.served, "down.bin"), size)
	cfgPath := s.jobs(t, fmt.Sprintf("    direction: two-way\n    interval: 1h\n    bandwidth: {upload: %d, download: %d}\n", highCap, highCap))
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	var stderr syncBuffer
	go func() {
		defer close(done)
		run(runCtx, &env{stdout: io.Discard, stderr: &stderr}, []string{"run", "--accept-new-host-key", "--config", cfgPath})
	}()
	defer func() {
		stop()
		<-done
	}()
	c := api.NewClient(cfg.SocketPath(), "")

	// done bytes of each file in flight; both must be moving.
	moved := func() map[string]int64 {
		t.Helper()
		j, err := c.Job(ctx, "j")
		if err != nil {
			t.Fatalf("job status: %v (agent: %s)", err, stderr.String())
		}
		out := map[string]int64{}
		for _, tr := range j.Transfers {
			out[tr.Path] = tr.Done
		}
		if j.Progress.FilesDone > 0 {
			t.Fatalf("a file finished before the measurement ended: %+v", j.Progress)
		}
		return out
	}
	rates := func(window time.Duration) map[string]float64 {
		t.Helper()
		a, start := moved(), time.Now()
		time.Sleep(window) // a measurement window, not an ordering
		b, d := moved(), time.Since(start).Seconds()
		out := map[string]float64{}
		for _, p := range []string{"up.bin", "down.bin"} {
			out[p] = float64(b[p]-a[p]) / d
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, err := c.Job(ctx, "j")
		if err == nil {
			got := map[string]int64{}
			for _, tr := range m.Transfers {
				got[tr.Path] = tr.Done
			}
			if got["up.bin"] > 0 && got["down.bin"] > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the transfers did not start within 30 s (agent: %s)", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := rates(time.Second)
	t.Logf("at %s: upload %.0f B/s, download %.0f B/s", config.Rate(highCap), before["up.bin"], before["down.bin"])
	for p, r := range before {
		if r < 3*lowCap/8 {
			t.Fatalf("%s moved at %.0f B/s before the change, not well above the new cap of %d B/s; the test cannot tell", p, r, lowCap/8)
		}
	}

	low := api.Rate(lowCap)
	if _, err := c.SetBandwidth(ctx, "j", api.BandwidthRequest{Upload: &low, Download: &low}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the change must have reached the transfers by now
	after := rates(2 * time.Second)
	t.Logf("at %s: upload %.0f B/s, download %.0f B/s", config.Rate(lowCap), after["up.bin"], after["down.bin"])
	for p, r := range after {
		if r > 2*lowCap/8 {
			t.Errorf("%s still moves at %.0f B/s 2 s after the cap went to %d B/s", p, r, lowCap/8)
		}
	}
}

// TestTwoWayJobUploadsAtItsDownloadCap: a two-way job runs at the lowest
// non-zero of its caps, so with only `download: 4Mbps` (500 kB/s) its
// upload of 2 MiB through a real `ferry serve` cannot take less than about
// 4 s. Only a lower bound is checked, which a slow machine cannot break.
func TestTwoWayJobUploadsAtItsDownloadCap(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	writeBig(t, filepath.Join(s.local, "up.bin"), 2<<20)
	cfgPath := s.jobs(t, "    direction: two-way\n    bandwidth: {download: 4Mbps}\n")
	start := time.Now()
	code, out, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfgPath, "j")
	took := time.Since(start)
	if code != exitOK {
		t.Fatalf("sync: exit %d: %s %s", code, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(s.served, "up.bin")); err != nil {
		t.Fatalf("the upload did not arrive: %v\n%s", err, out)
	}
	t.Logf("2 MiB uploaded in %v", took)
	if took < 3*time.Second {
		t.Fatalf("2 MiB uploaded in %v: the job's 4Mbps download cap did not hold for its uploads", took)
	}
}

// fakeClock is an agent.Clock whose time moves only when the test moves it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c  *fakeClock
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) agent.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			return true
		}
	}
	return false
}

// advanceTo moves the time to at and fires the timers due.
func (c *fakeClock) advanceTo(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = at
	keep := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(at) {
			keep = append(keep, t)
			continue
		}
		t.ch <- at
	}
	c.timers = keep
}

// TestOneShotSyncFollowsBandwidthSchedule: `ferry sync` applies the
// bandwidth.schedule rule in force when it starts (100 kB/s from 09:00),
// and a rule boundary crossed during the pass (uncapped from 10:00) changes
// the cap of the running upload. The clock the rules read is a fake one
// that the test moves across the boundary; the rates are measured in real
// time on the server's partial file, with wide bounds: under twice the cap
// before, and the 8 MB or so left after the boundary in under 12 s (at
// the old cap it needs 80 s).
func TestOneShotSyncFollowsBandwidthSchedule(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	const size = 8 << 20
	writeBig(t, filepath.Join(s.local, "big.bin"), size)
	cfgPath := s.jobs(t, "    direction: local-to-remote\n    bandwidth:\n      schedule:\n"+
		"        - {cron: \"0 9 * * *\", upload: 800Kbps}\n        - {cron: \"0 10 * * *\", upload: 0}\n")
	y, m, d := time.Now().Date()
	clock := &fakeClock{now: time.Date(y, m, d, 9, 59, 0, 0, time.Local)}

	done, exited := make(chan int, 1), make(chan struct{})
	var out, stderr syncBuffer
	go func() {
		defer close(exited)
		done <- run(ctx, &env{stdout: &out, stderr: &stderr, clock: clock}, []string{"sync", "--accept-new-host-key", "--config", cfgPath, "j"})
	}()
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	partial, final := filepath.Join(s.served, "big.bin.partial"), filepath.Join(s.served, "big.bin")
	arrived := func() int64 {
		t.Helper()
		if _, err := os.Stat(final); err == nil {
			t.Fatalf("the whole file arrived before the 10:00 rule fired: the 09:00 cap of 100 kB/s did not hold\n%s", out.String())
		}
		fi, err := os.Stat(partial)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	deadline := time.Now().Add(30 * time.Second)
	for arrived() == 0 {
		select {
		case code := <-done:
			t.Fatalf("sync ended (exit %d) before the upload started: %s %s", code, out.String(), stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upload did not start within 30 s: %s %s", out.String(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	a, start := arrived(), time.Now()
	time.Sleep(1500 * time.Millisecond) // a measurement window, not an ordering
	b := arrived()
	before := float64(b-a) / time.Since(start).Seconds()
	t.Logf("before 10:00: %.0f B/s", before)
	if before > 2*lowCap/8 {
		t.Fatalf("the upload moved at %.0f B/s under the 09:00 rule's cap of %d B/s", before, lowCap/8)
	}

	left := size - arrived()
	clock.advanceTo(time.Date(y, m, d, 10, 0, 1, 0, time.Local))
	start = time.Now()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("sync: exit %d: %s %s", code, out.String(), stderr.String())
		}
	case <-time.After(12 * time.Second):
		t.Fatalf("%d bytes left at 10:00 did not arrive within 12 s of the rule that lifts the cap", left)
	}
	t.Logf("after 10:00: %d bytes in %v", left, time.Since(start))
	if got, err := os.ReadFile(final); err != nil || len(got) != size {
		t.Fatalf("big.bin on the server: %d bytes, %v", len(got), err)
	}
}
