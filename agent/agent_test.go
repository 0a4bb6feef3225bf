package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/conflict"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/halt"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
)

// harness runs an Agent whose passes are a test function, on a fake clock.
type harness struct {
	t     *testing.T
	a     *Agent
	clock *fakeClock
	cfg   *config.Config

	mu     sync.Mutex
	passes []passCall
	calls  chan passCall
}

type passCall struct {
	job        string
	start, end time.Time
	opts       syncer.Options
}

type passFunc func(ctx context.Context, h *harness, opts syncer.Options) (snapshot.PassRecord, error)

func nopOpen(ctx context.Context, job config.Job) (endpoint.Endpoint, endpoint.Endpoint, error) {
	return nil, nil, nil
}

func testConfig(t *testing.T, jobs ...config.Job) *config.Config {
	return &config.Config{File: "/etc/ferry/jobs.yaml", StateDir: t.TempDir(), MaxConcurrentTransfers: 2, Jobs: jobs}
}

func newHarness(t *testing.T, cfg *config.Config, pass passFunc, mods ...func(*Agent)) *harness {
	t.Helper()
	h := &harness{t: t, clock: newFakeClock(mustTime(t, "2025-01-03 00:03:00")), cfg: cfg, calls: make(chan passCall, 100)}
	a, err := New(cfg, Options{Open: nopOpen, Clock: h.clock})
	if err != nil {
		t.Fatal(err)
	}
	a.pass = func(ctx context.Context, opts syncer.Options) (snapshot.PassRecord, error) {
		start := h.clock.Now()
		rec, err := pass(ctx, h, opts)
		c := passCall{job: opts.Job.Name, start: start, end: h.clock.Now(), opts: opts}
		h.mu.Lock()
		h.passes = append(h.passes, c)
		h.mu.Unlock()
		h.calls <- c
		if rec.Start.IsZero() {
			rec.Start, rec.End = c.start, c.end
		}
		return rec, err
	}
	for _, m := range mods {
		m(a)
	}
	h.a = a
	h.run()
	return h
}

// run starts the agent and stops it at cleanup, checking Run returns nil.
func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.a.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(10 * time.Second):
			h.t.Error("Run did not return within 10s of cancel")
		}
	})
	waitFor(h.t, "agent running", func() bool {
		h.a.mu.Lock()
		defer h.a.mu.Unlock()
		return h.a.running
	})
}

// nextPass waits for the next pass to finish.
func (h *harness) nextPass() passCall {
	h.t.Helper()
	select {
	case c := <-h.calls:
		return c
	case <-time.After(10 * time.Second):
		h.t.Fatal("no pass within 10s")
		return passCall{}
	}
}

func (h *harness) status(job string) JobStatus {
	for _, s := range h.a.Jobs() {
		if s.Name == job {
			return s
		}
	}
	h.t.Fatalf("job %q not listed", job)
	return JobStatus{}
}

// waitFor polls cond (real time, bounded): used only to wait for another
// goroutine, never to assert durations.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 10s waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func takes(d time.Duration) passFunc {
	return func(ctx context.Context, h *harness, opts syncer.Options) (snapshot.PassRecord, error) {
		h.clock.Advance(d)
		return snapshot.PassRecord{}, nil
	}
}

func TestIntervalIsMeasuredFromPassEnd(t *testing.T) {
	const interval = 30 * time.Second
	durations := []time.Duration{7 * time.Second, 45 * time.Second, time.Second, 0}
	i := 0
	h := newHarness(t, testConfig(t, config.Job{Name: "j", Local: "/l", Remote: "/r", Interval: interval}),
		func(ctx context.Context, h *harness, opts syncer.Options) (snapshot.PassRecord, error) {
			h.clock.Advance(durations[i%len(durations)])
			i++
			return snapshot.PassRecord{}, nil
		})
	prev := h.nextPass()
	for range 5 {
		at := h.clock.waitTimer(t)
		if want := prev.end.Add(interval); !at.Equal(want) {
			t.Fatalf("next pass armed for %s, want %s (end of previous pass + interval)", at, want)
		}
		waitFor(t, "status to show next pass", func() bool { return h.status("j").NextPass.Equal(at) })
		h.clock.AdvanceTo(at)
		c := h.nextPass()
		if gap := c.start.Sub(prev.end); gap != interval {
			t.Fatalf("pass started %s after the previous one ended, want %s", gap, interval)
		}
		prev = c
	}
}

func TestScheduleFollowsCron(t *testing.T) {
	// The clock starts at 00:03; the first pass runs at 00:10 and takes
	// 15 minutes, so 00:20 is skipped and the next pass is 00:30.
	durations := map[string]time.Duration{"00:10": 15 * time.Minute, "00:30": time.Minute, "00:40": time.Minute}
	h := newHarness(t, testConfig(t, config.Job{Name: "j", Local: "/l", Remote: "/r", Mode: config.Schedule, Schedule: "*/10 * * * *"}),
		func(ctx context.Context, h *harness, opts syncer.Options) (snapshot.PassRecord, error) {
			h.clock.Advance(durations[h.clock.Now().Format("15:04")])
			return snapshot.PassRecord{}, nil
		})
	var starts []string
	for range 3 {
		h.clock.AdvanceTo(h.clock.waitTimer(t))
		starts = append(starts, h.nextPass().start.Format("15:04"))
	}
	if got, want := strings.Join(starts, " "), "00:10 00:30 00:40"; got != want {
		t.Fatalf("passes started at %s, want %s", got, want)
	}
}

// blocking is a pass that runs until released or cancelled.
type blocking struct {
	started chan struct{}
	release chan struct{}
	mu      sync.Mutex
	cancels int
}

func newBlocking() *blocking {
	return &blocking{started: make(chan struct{}, 10), release: make(chan struct{}, 10)}
}

func (b *blocking) pass(ctx context.Context, h *harness, opts syncer.Options) (snapshot.PassRecord, error) {
	b.started <- struct{}{}
	select {
	case <-b.release:
		return snapshot.PassRecord{}, nil
	case <-ctx.Done():
		b.mu.Lock()
		b.cancels++
		b.mu.Unlock()
		return snapshot.PassRecord{Err: "cancelled"}, ctx.Err()
	}
}

func (b *blocking) waitStart(t *testing.T) {
	t.Helper()
	select {
	case <-b.started:
	case <-time.After(10 * time.Second):
		t.Fatal("pass did not start within 10s")
	}
}

func TestStopCancelsAndResumeRestarts(t *testing.T) {
	b := newBlocking()
	h := newHarness(t, testConfig(t, config.Job{Name: "j", Local: "/l", Remote: "/r"}), b.pass)
	b.waitStart(t)
	if err := h.a.Stop("j"); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	cancels := b.cancels
	b.mu.Unlock()
	if cancels != 1 {
		t.Fatalf("Stop returned with %d passes cancelled, want 1", cancels)
	}
	if s := h.status("j"); s.State != Stopped || !s.NextPass.IsZero() {
		t.Fatalf("after Stop: state %q next %s, want stopped and no next pass", s.State, s.NextPass)
	}
	if err := h.a.SyncNow("j"); !errors.Is(err, ErrStopped) {
		t.Fatalf("SyncNow on a stopped job: %v, want ErrStopped", err)
	}
	// Time passing does not start a pass while stopped.
	h.clock.Advance(time.Hour)
	select {
	case <-b.started:
		t.Fatal("a stopped job started a pass")
	default:
	}
	if err := h.a.Resume("j"); err != nil {
		t.Fatal(err)
	}
	b.waitStart(t)
	b.release <- struct{}{}
	waitFor(t, "idle after resume", func() bool { return h.status("j").State == Idle })
}

func TestSyncNowQueuesExactlyOneMore(t *testing.T) {
	b := newBlocking()
	h := newHarness(t, testConfig(t, config.Job{Name: "j", Local: "/l", Remote: "/r", Interval: time.Minute}), b.pass)
	b.waitStart(t) // the start-up pass
	for range 3 {
		if err := h.a.SyncNow("j"); err != nil {
			t.Fatal(err)
		}
	}
	b.release <- struct{}{}
	b.waitStart(t) // exactly one queued pass
	b.release <- struct{}{}
	var end time.Time
	for range 2 {
		end = h.nextPass().end
	}
	// A third pass would start before the job shows idle with the next
	// pass a full interval away (and would block forever).
	waitFor(t, "idle with next pass one interval after the last", func() bool {
		s := h.status("j")
		return s.State == Idle && s.NextPass.Equal(end.Add(time.Minute))
	})
	select {
	case <-b.started:
		t.Fatal("three SyncNow calls during one pass queued more than one pass")
	default:
	}
	// Idle: SyncNow starts a pass at once, without the clock moving.
	if err := h.a.SyncNow("j"); err != nil {
		t.Fatal(err)
	}
	b.waitStart(t)
	b.release <- struct{}{}
}

func TestRetryThenNextInterval(t *testing.T) {
	fails := 3 // the start-up pass and two retries fail, the third retry succeeds
	h := newHarness(t, testConfig(t, config.Job{Name: "j", Local: "/l", Remote: "/r", Interval: 10 * time.Minute,
		Retry: config.Retry{Attempts: 3, Interval: 30 * time.Second}}),
		func(ctx context.Context, h *harness, opts syncer.Options) (snapshot.PassRecord, error) {
			h.clock.Advance(time.Second)
			if fails > 0 {
				fails--
				return snapshot.PassRecord{Err: "remote unreachable"}, errors.New("remote unreachable")
			}
			return snapshot.PassRecord{}, nil
		})
	prev := h.nextPass()
	wantGaps := []time.Duration{30 * time.Second, 30 * time.Second, 30 * time.Second, 10 * time.Minute}
	for _, want := range wantGaps {
		h.clock.AdvanceTo(h.clock.waitTimer(t))
		c := h.nextPass()
		if gap := c.start.Sub(prev.end); gap != want {
			t.Fatalf("pass started %s after the previous ended, want %s", gap, want)
		}
		prev = c
	}
	waitFor(t, "the successful pass in status", func() bool {
		s := h.status("j")
		return s.Last != nil && s.Last.Err == "" && s.State == Idle
	})
}

func TestRetriesGiveUpUntilNextPass(t *testing.T) {
	h := newHarness(t, testConfig(t, config.Job{Name: "j", Local: "/l", Remote: "/r", Interval: 10 * time.Minute,
		Retry: config.Retry{Attempts: 2, Interval: time.Minute}}),
		func(ctx context.Context, h *harness, opts syncer.Options) (snapshot.PassRecord, error) {
			return snapshot.PassRecord{Err: "disk error"}, errors.New("disk error")
		})
	prev := h.nextPass()
	for _, want := range []time.Duration{time.Minute, time.Minute, 10 * time.Minute, time.Minute} {
		h.clock.AdvanceTo(h.clock.waitTimer(t))
		c := h.nextPass()
		if gap := c.start.Sub(prev.end); gap != want {
			t.Fatalf("gap %s, want %s", gap, want)
		}
		prev = c
	}
	waitFor(t, "idle", func() bool { return h.status("j").State == Idle })
	if s := h.status("j"); s.Last == nil || s.Last.Err != "disk error" {
		t.Fatalf("status after failures: state %q last %+v", s.State, s.Last)
	}
}

func TestHaltedJobReportsReasonAndFix(t *testing.T) {
	halts := []*syncer.HaltError{
		{Halt: halt.Halt{Kind: halt.SignatureMissing, Job: "photos", Config: "/etc/ferry/jobs.yaml", Side: halt.Local, Root: "/mnt/x", Path: "/mnt/x/.ferry-signature"}},
		{Halt: halt.Halt{Kind: halt.TooManyDeletes, Job: "photos", Config: "/etc/ferry/jobs.yaml", Side: halt.Local, Count: 120, Limit: 100, Rule: "50% of 200"}},
	}
	n := 0
	var allowedMu sync.Mutex
	var allowed []bool // each pass's AllowDeletes
	h := newHarness(t, testConfig(t, config.Job{Name: "photos", Local: "/mnt/x", Remote: "/r", LocalSignature: ".ferry-signature"}),
		func(ctx context.Context, h *harness, opts syncer.Options) (snapshot.PassRecord, error) {
			allowedMu.Lock()
			allowed = append(allowed, opts.AllowDeletes)
			allowedMu.Unlock()
			if n >= len(halts) {
				return snapshot.PassRecord{}, nil
			}
			he := halts[n]
			n++
			return snapshot.PassRecord{Halt: &he.Halt, Halted: he.Reason()}, he
		})
	h.nextPass()
	waitFor(t, "halted", func() bool { return h.status("photos").State == Halted })
	s := h.status("photos")
	// The agent holds the job: the halt says so, and its fix asks the agent.
	held := halts[0].Halt
	held.Agent = true
	if s.Halt == nil || *s.Halt != held || s.Halted != halts[0].Reason() || s.Fix != held.Fix() ||
		!strings.Contains(s.Fix, "touch /mnt/x/.ferry-signature") {
		t.Fatalf("halt %+v: halted %q fix %q", s.Halt, s.Halted, s.Fix)
	}
	// A halt is not retried: the next pass is a full interval away.
	if want := h.clock.Now().Add(30 * time.Second); !s.NextPass.Equal(want) {
		t.Fatalf("next pass %s, want %s", s.NextPass, want)
	}
	if err := h.a.SyncNow("photos"); err != nil {
		t.Fatal(err)
	}
	h.nextPass()
	waitFor(t, "max_delete halt", func() bool { return strings.Contains(h.status("photos").Halted, "max_delete allows") })
	if s := h.status("photos"); !strings.Contains(s.Fix, "ferry sync-now --allow-deletes --wait --config /etc/ferry/jobs.yaml photos") || s.State != Halted {
		t.Fatalf("state %q fix %q", s.State, s.Fix)
	}
	// The next clean pass, asked for with the deletions allowed, clears
	// the halt; the one after it is guarded again.
	if err := h.a.SyncNowWith("photos", SyncNowOptions{AllowDeletes: true}); err != nil {
		t.Fatal(err)
	}
	h.nextPass()
	waitFor(t, "halt cleared", func() bool {
		s := h.status("photos")
		return s.State == Idle && s.Halted == "" && s.Fix == "" && s.Halt == nil
	})
	if err := h.a.SyncNow("photos"); err != nil {
		t.Fatal(err)
	}
	h.nextPass()
	waitFor(t, "a fourth pass", func() bool {
		allowedMu.Lock()
		defer allowedMu.Unlock()
		return len(allowed) == 4
	})
	allowedMu.Lock()
	got := slices.Clone(allowed)
	allowedMu.Unlock()
	if want := []bool{false, false, true, false}; !slices.Equal(got, want) {
		t.Fatalf("AllowDeletes by pass %v, want %v", got, want)
	}
}

func TestReloadAddsRemovesAndRestartsJobs(t *testing.T) {
	b := newBlocking()
	cfg := testConfig(t, config.Job{Name: "a", Local: "/la", Remote: "/ra"})
	h := newHarness(t, cfg, func(ctx context.Context, h *harness, opts syncer.Options) (snapshot.PassRecord, error) {
		if opts.Job.Name == "a" {
			return b.pass(ctx, h, opts)
		}
		return snapshot.PassRecord{}, nil
	})
	b.waitStart(t) // a's pass runs until released or cancelled

	// Add b; a is unchanged and keeps its running pass.
	cfg2 := *cfg
	cfg2.Jobs = []config.Job{cfg.Jobs[0], {Name: "b", Local: "/lb", Remote: "/rb"}}
	if err := h.a.Reload(&cfg2); err != nil {
		t.Fatal(err)
	}
	if c := h.nextPass(); c.job != "b" {
		t.Fatalf("first pass after adding b was job %q", c.job)
	}
	b.mu.Lock()
	if b.cancels != 0 {
		t.Fatal("reload cancelled the pass of an unchanged job")
	}
	b.mu.Unlock()
	if got := len(h.a.Jobs()); got != 2 {
		t.Fatalf("%d jobs after adding one, want 2", got)
	}

	// Change b's interval and remove a: a's pass is cancelled before
	// Reload returns, b restarts with the new interval.
	cfg3 := *cfg
	cfg3.Jobs = []config.Job{{Name: "b", Local: "/lb", Remote: "/rb", Interval: 5 * time.Minute}}
	if err := h.a.Reload(&cfg3); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	cancels := b.cancels
	b.mu.Unlock()
	if cancels != 1 {
		t.Fatalf("removing job a cancelled %d passes, want 1", cancels)
	}
	// Next come a's cancelled pass and the restarted b's first pass, in
	// either order.
	got := map[string]passCall{}
	for range 2 {
		c := h.nextPass()
		got[c.job] = c
	}
	if _, ok := got["a"]; !ok {
		t.Fatal("a's cancelled pass was not reported")
	}
	if c, ok := got["b"]; !ok || c.opts.Job.Interval != 5*time.Minute {
		t.Fatalf("restarted b: ran %v, interval %s", ok, c.opts.Job.Interval)
	}
	jobs := h.a.Jobs()
	if len(jobs) != 1 || jobs[0].Name != "b" {
		t.Fatalf("jobs after removing a: %+v", jobs)
	}
	if err := h.a.SyncNow("a"); !errors.Is(err, ErrNoJob) {
		t.Fatalf("SyncNow of a removed job: %v, want ErrNoJob", err)
	}
}

func TestPassesShareOneSlotsQueue(t *testing.T) {
	seen := make(chan syncer.Slots, 2)
	newHarness(t, testConfig(t, config.Job{Name: "a", Local: "/la", Remote: "/ra"}, config.Job{Name: "b", Local: "/lb", Remote: "/rb"}),
		func(ctx context.Context, h *harness, opts syncer.Options) (snapshot.PassRecord, error) {
			seen <- opts.Slots
			return snapshot.PassRecord{}, nil
		})
	s1, s2 := <-seen, <-seen
	o1, ok1 := s1.(ownedSlots)
	o2, ok2 := s2.(ownedSlots)
	if !ok1 || !ok2 || o1.s != o2.s || o1.owner == o2.owner {
		t.Fatalf("jobs got slots %v and %v, want one shared queue, each job its own view", s1, s2)
	}
	if o1.s.limit != 2 {
		t.Fatalf("slots limit %d, want max_concurrent_transfers 2", o1.s.limit)
	}
}

func TestSetBandwidthReachesLimitsAndNextOpen(t *testing.T) {
	cfg := testConfig(t, config.Job{Name: "j", Local: "/l", Remote: "/r", Bandwidth: config.Bandwidth{Upload: 1e6, Policy: config.Fair}})
	clock := newFakeClock(mustTime(t, "2025-01-03 00:03:00"))
	opened := make(chan OpenRequest, 10)
	a, err := New(cfg, Options{Clock: clock, OpenWith: func(ctx context.Context, req OpenRequest) (endpoint.Endpoint, endpoint.Endpoint, error) {
		opened <- req
		return nil, nil, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	a.pass = func(ctx context.Context, opts syncer.Options) (snapshot.PassRecord, error) {
		return snapshot.PassRecord{}, nil
	}
	h := &harness{t: t, a: a, clock: clock}
	h.run()
	req := <-opened
	if req.Job.Bandwidth.Upload != 1e6 || req.DB == nil || req.Limits == nil {
		t.Fatalf("first open: bandwidth %+v db %v limits %v", req.Job.Bandwidth, req.DB, req.Limits)
	}
	bw, changed := req.Limits.Load()
	if bw.Upload != 1e6 {
		t.Fatalf("limits hold %+v", bw)
	}
	if err := a.SetBandwidth("j", config.Bandwidth{Upload: 5e6, Download: 7e6}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(time.Second):
		t.Fatal("Limits subscribers not told of the change within 1s")
	}
	if bw := req.Limits.Bandwidth(); bw.Upload != 5e6 || bw.Download != 7e6 || bw.Policy != config.Fair {
		t.Fatalf("limits after SetBandwidth: %+v (policy should be kept)", bw)
	}
	if s := h.status("j"); s.Bandwidth.Upload != 5e6 {
		t.Fatalf("status bandwidth %+v", s.Bandwidth)
	}
	if err := a.SyncNow("j"); err != nil {
		t.Fatal(err)
	}
	if req := <-opened; req.Job.Bandwidth.Upload != 5e6 || req.Job.Bandwidth.Download != 7e6 {
		t.Fatalf("next open got bandwidth %+v", req.Job.Bandwidth)
	}
}

func TestBandwidthScheduleFiresLive(t *testing.T) {
	// Clock starts Friday 00:03; the 08:00 rule fired yesterday, so it is
	// in force at start; the 18:00... rule set is two rules.
	cfg := testConfig(t, config.Job{Name: "j", Local: "/l", Remote: "/r", Interval: 24 * time.Hour, Bandwidth: config.Bandwidth{
		Upload: 1e6,
		Schedule: []config.BandwidthRule{
			{Cron: "0 8 * * *", Upload: rate(10e6)},
			{Cron: "0 1 * * *", Upload: rate(0)},
		},
	}})
	h := newHarness(t, cfg, takes(0))
	h.nextPass()
	if bw := h.status("j").Bandwidth; bw.Upload != 10e6 {
		t.Fatalf("at start (00:03) upload %d, want the 08:00 rule's 10M (last fired)", bw.Upload)
	}
	at := h.clock.waitTimer(t)
	if want := mustTime(t, "2025-01-03 01:00:00"); !at.Equal(want) {
		t.Fatalf("next wake %s, want the 01:00 rule", at)
	}
	h.clock.AdvanceTo(at)
	waitFor(t, "01:00 rule applied", func() bool { return h.status("j").Bandwidth.Upload == 0 })
}

func TestStatusFollowsPassEventsAndForwardsThem(t *testing.T) {
	type got struct {
		job string
		ev  syncer.Event
	}
	forwarded := make(chan got, 100)
	release := make(chan struct{})
	h := newHarness(t, testConfig(t, config.Job{Name: "j", Local: "/l", Remote: "/r"}),
		func(ctx context.Context, h *harness, opts syncer.Options) (snapshot.PassRecord, error) {
			opts.Observer(syncer.Event{Phase: syncer.PhaseScanning})
			opts.Observer(syncer.Event{Phase: syncer.PhaseTransferring, Path: "a.bin", Delta: 1 << 20, FilesTotal: 2, BytesDone: 1 << 20, BytesTotal: 4 << 20})
			h.clock.Advance(2 * time.Second)
			opts.Observer(syncer.Event{Phase: syncer.PhaseTransferring, Path: "a.bin", Delta: 1 << 20, FilesTotal: 2, BytesDone: 2 << 20, BytesTotal: 4 << 20})
			<-release
			opts.Observer(syncer.Event{Phase: syncer.PhaseDone, FilesDone: 2, FilesTotal: 2, BytesDone: 4 << 20, BytesTotal: 4 << 20})
			return snapshot.PassRecord{}, nil
		},
		func(a *Agent) {
			a.opts.Observer = func(job string, ev syncer.Event) { forwarded <- got{job, ev} }
		})
	waitFor(t, "transferring", func() bool { return h.status("j").Progress.BytesDone == 2<<20 })
	s := h.status("j")
	if s.State != Transferring || s.Progress.BytesTotal != 4<<20 || s.Progress.FilesTotal != 2 {
		t.Fatalf("mid-pass status: %+v", s)
	}
	// 1 MiB moved in the 2 s between samples.
	if want := float64(1<<20) * 8 / 2; s.Progress.Rate != want {
		t.Fatalf("rate %.0f, want %.0f", s.Progress.Rate, want)
	}
	if want := 4 * time.Second; s.Progress.ETA != want {
		t.Fatalf("ETA %s, want %s", s.Progress.ETA, want)
	}
	if len(s.Transfers) != 1 || s.Transfers[0].Path != "a.bin" || s.Transfers[0].Done != 2<<20 {
		t.Fatalf("transfers %+v", s.Transfers)
	}
	close(release)
	h.nextPass()
	for i := range 4 {
		select {
		case g := <-forwarded:
			if g.job != "j" {
				t.Fatalf("event %d forwarded for job %q", i, g.job)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of 4 events forwarded", i)
		}
	}
	waitFor(t, "idle", func() bool { return h.status("j").State == Idle })
}

func TestResetSyncCancelsPassClearsSnapshotAndSyncs(t *testing.T) {
	b := newBlocking()
	h := newHarness(t, testConfig(t, config.Job{Name: "j", Local: "/l", Remote: "/r"}),
		func(ctx context.Context, h *harness, opts syncer.Options) (snapshot.PassRecord, error) {
			if err := opts.DB.PutConflict(conflict.Record{Path: "x.txt", Reason: conflict.BothModified}); err != nil {
				return snapshot.PassRecord{}, err
			}
			return b.pass(ctx, h, opts)
		})
	b.waitStart(t)
	cs, err := h.a.Conflicts("j")
	if err != nil || len(cs) != 1 || cs[0].Path != "x.txt" {
		t.Fatalf("conflicts during the pass: %+v, %v", cs, err)
	}
	if err := h.a.ResetSync("j"); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	cancels := b.cancels
	b.mu.Unlock()
	if cancels != 1 {
		t.Fatalf("ResetSync cancelled %d running passes, want 1", cancels)
	}
	b.waitStart(t) // the pass after the reset
	// That pass put the conflict back; the reset had cleared it first.
	b.release <- struct{}{}
	h.nextPass()
	h.nextPass()
	waitFor(t, "idle", func() bool { return h.status("j").State == Idle })
}

func TestResetSyncClearsConflicts(t *testing.T) {
	n := 0
	h := newHarness(t, testConfig(t, config.Job{Name: "j", Local: "/l", Remote: "/r"}),
		func(ctx context.Context, h *harness, opts syncer.Options) (snapshot.PassRecord, error) {
			n++
			if n == 1 {
				return snapshot.PassRecord{}, opts.DB.PutConflict(conflict.Record{Path: "x.txt", Reason: conflict.BothModified})
			}
			return snapshot.PassRecord{}, nil
		})
	h.nextPass()
	waitFor(t, "one conflict", func() bool { return h.status("j").Conflicts == 1 })
	if err := h.a.ResetSync("j"); err != nil {
		t.Fatal(err)
	}
	if cs, err := h.a.Conflicts("j"); err != nil || len(cs) != 0 {
		t.Fatalf("conflicts after reset: %+v, %v", cs, err)
	}
	h.nextPass()
	waitFor(t, "no conflicts and idle", func() bool { s := h.status("j"); return s.Conflicts == 0 && s.State == Idle })
}

func TestResolveWaitsForPassAndDelegates(t *testing.T) {
	var running atomic.Bool
	b := newBlocking()
	var resolved []string
	overlapped := false
	h := newHarness(t, testConfig(t, config.Job{Name: "j", Local: "/l", Remote: "/r"}),
		func(ctx context.Context, h *harness, opts syncer.Options) (snapshot.PassRecord, error) {
			running.Store(true)
			defer running.Store(false)
			if err := opts.DB.PutConflict(conflict.Record{Path: "x.txt", Reason: conflict.BothModified}); err != nil {
				return snapshot.PassRecord{}, err
			}
			return b.pass(ctx, h, opts)
		},
		func(a *Agent) {
			a.resolve = func(ctx context.Context, opts syncer.Options, paths []string) error {
				overlapped = overlapped || running.Load()
				resolved = append(resolved, paths...)
				for _, p := range paths {
					if err := opts.DB.ClearConflict(p); err != nil {
						return err
					}
				}
				return nil
			}
		})
	b.waitStart(t)
	errc := make(chan error, 1)
	go func() { errc <- h.a.Resolve("j", []string{"x.txt"}) }()
	b.release <- struct{}{}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Resolve did not return")
	}
	if overlapped || len(resolved) != 1 || resolved[0] != "x.txt" {
		t.Fatalf("resolve overlapped a pass: %v, resolved %v", overlapped, resolved)
	}
	if s := h.status("j"); s.Conflicts != 0 {
		t.Fatalf("conflict count after resolve: %d", s.Conflicts)
	}
}

// TestStoppedPassIsInterruptedNotFailed: a pass stopped mid-way whose
// endpoints report the cancellation in their own words (not as
// context.Canceled) leaves the job "stopped" with an interrupted last
// pass, never a failed one that reads "context canceled".
func TestStoppedPassIsInterruptedNotFailed(t *testing.T) {
	started := make(chan struct{}, 1)
	h := newHarness(t, testConfig(t, config.Job{Name: "j", Local: "/l", Remote: "/r"}),
		func(ctx context.Context, h *harness, opts syncer.Options) (snapshot.PassRecord, error) {
			started <- struct{}{}
			<-ctx.Done()
			err := fmt.Errorf("unable to download big.bin: transfer canceled: %s", ctx.Err())
			return snapshot.PassRecord{Start: h.clock.Now(), End: h.clock.Now(), Err: err.Error()}, err
		})
	<-started
	if err := h.a.Stop("j"); err != nil {
		t.Fatal(err)
	}
	s := h.status("j")
	if s.State != Stopped || s.Last == nil || s.Last.Err != "" || !s.Last.Interrupted {
		t.Fatalf("after Stop: state %q, last pass %+v; want stopped, interrupted, no error", s.State, s.Last)
	}
}
