package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/internal/watch"
	"github.com/ferry-sync/ferry/tree"
)

// fakeRemote is a kept remote whose server's watch the test drives. Its
// endpoint methods are never called: the harness fakes the passes.
type fakeRemote struct {
	endpoint.Endpoint

	mu       sync.Mutex
	watches  int
	endPass  int
	closed   bool
	notifier chan func([]string, []tree.Entry, bool)
	fail     chan error // ends a running watch with the error sent
}

func newFakeRemote() *fakeRemote {
	return &fakeRemote{notifier: make(chan func([]string, []tree.Entry, bool), 1), fail: make(chan error)}
}

func (f *fakeRemote) Link(bool) (endpoint.Link, bool) { return endpoint.Link{}, false }

func (f *fakeRemote) Server() string { return "" }

func (f *fakeRemote) EndPass() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.endPass++
}

func (f *fakeRemote) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakeRemote) Watch(ctx context.Context, exclude []string, notify func([]string, []tree.Entry, bool)) error {
	f.mu.Lock()
	f.watches++
	f.mu.Unlock()
	f.notifier <- notify
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-f.fail:
		return err
	}
}

func (f *fakeRemote) count() (watches, endPass int, closed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.watches, f.endPass, f.closed
}

var _ Remote = (*fakeRemote)(nil)

// keeping makes the agent keep rem as every ferry:// job's remote.
func keeping(rem *fakeRemote) func(*Agent) {
	return func(a *Agent) {
		a.opts.OpenWith = func(ctx context.Context, req OpenRequest) (endpoint.Endpoint, endpoint.Endpoint, error) {
			return nil, req.Remote, nil
		}
		a.opts.KeepRemote = func(OpenRequest) (Remote, error) { return rem, nil }
	}
}

func ferryJob(t *testing.T) config.Job {
	return config.Job{Name: "j", Local: t.TempDir(), Remote: "ferry://u@h/docs", RemoteURL: &config.RemoteURL{User: "u", Host: "h", Path: "docs"},
		Mode: config.Continuous, Interval: time.Hour, Cooloff: time.Second, RescanInterval: 24 * time.Hour, Retry: config.Retry{Attempts: 1, Interval: time.Minute}}
}

// waitNextPass waits until the job's status shows its next pass at want:
// the job goroutine has taken in what the test handed it.
func waitNextPass(h *harness, want time.Time) {
	h.t.Helper()
	waitFor(h.t, "next pass at "+want.String(), func() bool { return h.status("j").NextPass.Equal(want) })
}

// TestServerNoticeRunsPassWithoutWaitingForPoll: a continuous job with a
// ferry:// remote runs a pass one cooloff after the server's watch reports
// a change, not at the next poll (an hour away), and stops polling once
// the watch is armed; every pass ends with EndPass on the one remote it
// keeps, which is closed when the job stops.
func TestServerNoticeRunsPassWithoutWaitingForPoll(t *testing.T) {
	rem := newFakeRemote()
	h := newHarness(t, testConfig(t, ferryJob(t)), takes(0), keeping(rem))
	first := h.nextPass()
	var notify func([]string, []tree.Entry, bool)
	select {
	case notify = <-rem.notifier:
	case <-time.After(10 * time.Second):
		t.Fatal("the job did not watch the server's folder")
	}
	waitNextPass(h, first.end.Add(time.Hour)) // polled until the watch is armed

	notify(nil, nil, true) // armed: changes before it raised no notice
	t0 := h.clock.Now()
	waitNextPass(h, t0.Add(time.Second))
	h.clock.Advance(time.Second)
	if p := h.nextPass(); !p.start.Equal(t0.Add(time.Second)) {
		t.Fatalf("pass after the watch was armed started at %s, want %s", p.start, t0.Add(time.Second))
	}
	rescan := h.clock.Now().Add(24 * time.Hour)
	waitNextPass(h, rescan) // no poll: the next pass is the safety rescan

	notify([]string{"sub/new.txt"}, nil, false)
	t1 := h.clock.Now()
	waitNextPass(h, t1.Add(time.Second))
	h.clock.Advance(time.Second)
	if p := h.nextPass(); !p.start.Equal(t1.Add(time.Second)) {
		t.Fatalf("pass for the server's change started at %s, want %s", p.start, t1.Add(time.Second))
	}
	waitFor(t, "EndPass after the third pass", func() bool { _, n, _ := rem.count(); return n == 3 })

	if err := h.a.Stop("j"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "kept remote closed on stop", func() bool { _, _, c := rem.count(); return c })
	if w, _, _ := rem.count(); w != 1 {
		t.Fatalf("watched %d times, want 1", w)
	}
}

// TestServerWatchFailureFallsBackToPolling: when the server cannot watch
// (here: it stops, after it was armed, as at the inotify limit), the job
// polls every interval again, and does not ask again.
func TestServerWatchFailureFallsBackToPolling(t *testing.T) {
	rem := newFakeRemote()
	h := newHarness(t, testConfig(t, ferryJob(t)), takes(0), keeping(rem))
	h.nextPass()
	notify := <-rem.notifier
	notify(nil, nil, true)
	t0 := h.clock.Now()
	waitNextPass(h, t0.Add(time.Second))
	h.clock.Advance(time.Second)
	h.nextPass()
	waitNextPass(h, h.clock.Now().Add(24*time.Hour)) // armed: no poll

	rem.fail <- errors.New("server cannot watch the folder: inotify watch limit")
	t1 := h.clock.Now()
	waitNextPass(h, t1.Add(time.Hour))
	h.clock.Advance(time.Hour)
	if p := h.nextPass(); !p.start.Equal(t1.Add(time.Hour)) {
		t.Fatalf("poll pass at %s, want %s", p.start, t1.Add(time.Hour))
	}
	waitNextPass(h, h.clock.Now().Add(time.Hour))
	if w, _, _ := rem.count(); w != 1 {
		t.Fatalf("watched %d times after it failed, want 1", w)
	}
}

// TestServerNoticeWithoutLocalWatcherWaitsForCooloff: a continuous job
// that cannot watch its local folder (no watcher at all: the inotify
// instance limit) still follows the server's notices, but a change there
// runs a pass once it has been still for cooloff, as with a watcher: a
// file written on the server a piece at a time (a notice each 300 ms)
// costs one pass, scoped to it, not one whole pass per notice. The local
// folder is still polled every interval, counted from the last whole pass.
func TestServerNoticeWithoutLocalWatcherWaitsForCooloff(t *testing.T) {
	rem := newFakeRemote()
	noWatcher := func(a *Agent) {
		a.newWatcher = func() (watch.Watcher, error) {
			return nil, fmt.Errorf("unable to make a watcher: %w", syscall.EMFILE)
		}
	}
	h := newHarness(t, testConfig(t, ferryJob(t)), takes(0), keeping(rem), noWatcher)
	h.nextPass()
	notify := <-rem.notifier
	notify(nil, nil, true)
	t0 := h.clock.Now()
	waitNextPass(h, t0.Add(time.Second))
	h.clock.Advance(time.Second)
	h.nextPass()
	poll := h.clock.Now().Add(time.Hour) // the local side, which no event covers
	waitNextPass(h, poll)

	var last time.Time
	for i := range 4 {
		if i > 0 {
			h.clock.Advance(300 * time.Millisecond)
		}
		notify([]string{"big.log"}, nil, false)
		last = h.clock.Now()
		waitNextPass(h, last.Add(time.Second))
	}
	h.clock.Advance(time.Second)
	p := h.nextPass()
	if !p.start.Equal(last.Add(time.Second)) {
		t.Fatalf("pass for the server's change started at %s, want %s (a cooloff after the last notice)", p.start, last.Add(time.Second))
	}
	if want := []string{"big.log"}; !slices.Equal(p.opts.Within, want) {
		t.Fatalf("pass scoped to %q, want %q", p.opts.Within, want)
	}
	h.mu.Lock()
	n := len(h.passes)
	h.mu.Unlock()
	if n != 3 {
		t.Fatalf("%d passes, want 3 (the first, the one after the watch was armed, one for the notices)", n)
	}
	// The scoped pass does not move the poll of the unwatched local side.
	waitNextPass(h, poll)
}
