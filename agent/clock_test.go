package agent

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock whose time moves only when a test moves it.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	at      time.Time
	ch      chan time.Time
	stopped bool
	fired   bool
}

func newFakeClock(start time.Time) *fakeClock { return &fakeClock{now: start} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.fired = true
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
	pending := !t.fired && !t.stopped
	t.stopped = true
	return pending
}

// AdvanceTo sets the time to at (never backwards) and fires due timers.
func (c *fakeClock) AdvanceTo(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at.After(c.now) {
		c.now = at
	}
	keep := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.fired = true
			t.ch <- c.now
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
}

func (c *fakeClock) Advance(d time.Duration) { c.AdvanceTo(c.Now().Add(d)) }

// pending returns the earliest armed timer's deadline.
func (c *fakeClock) pending() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var at time.Time
	for _, t := range c.timers {
		if !t.stopped && !t.fired && (at.IsZero() || t.at.Before(at)) {
			at = t.at
		}
	}
	return at, !at.IsZero()
}

// waitTimer waits (in real time, bounded) until some goroutine has armed a
// timer, and returns its deadline.
func (c *fakeClock) waitTimer(t *testing.T) time.Time {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if at, ok := c.pending(); ok {
			return at
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("no timer was armed within 10s")
	return time.Time{}
}

func TestFakeClockFiresOnlyDueTimers(t *testing.T) {
	c := newFakeClock(time.Unix(1000, 0))
	a := c.NewTimer(5 * time.Second)
	b := c.NewTimer(10 * time.Second)
	c.Advance(5 * time.Second)
	select {
	case <-a.C():
	default:
		t.Fatal("timer due at +5s did not fire at +5s")
	}
	select {
	case <-b.C():
		t.Fatal("timer due at +10s fired at +5s")
	default:
	}
	if !b.Stop() {
		t.Fatal("Stop of a pending timer reported it was not pending")
	}
	c.Advance(time.Hour)
	select {
	case <-b.C():
		t.Fatal("stopped timer fired")
	default:
	}
}
