package cc

import (
	"math"
	"testing"
	"time"
)

// TestPhaseRules checks each phase function on one reading: the rate it
// returns and the phase it leaves the controller in. The controller is
// put in the state each case needs by hand; every reading is 10 ms after
// the last, with a 200 ms reference delay.
func TestPhaseRules(t *testing.T) {
	const (
		rate0 = 50e6
		dt    = 10 * time.Millisecond
		ref   = 200 * time.Millisecond
	)
	grow := func(g float64) float64 { return rate0 * math.Pow(g, dt.Seconds()/ref.Seconds()) }
	type phaseFn func(*Controller, reading) float64
	var (
		ramp     phaseFn = (*Controller).ramp
		drain    phaseFn = (*Controller).drain
		slowdown phaseFn = (*Controller).slowdown
		compete  phaseFn = (*Controller).compete
		steady   phaseFn = (*Controller).steady
	)
	cases := []struct {
		name      string
		phase     Phase
		fn        phaseFn
		q         time.Duration // queueing delay of the reading
		setup     func(c *Controller, rd *reading)
		wantRate  float64 // 0: check is given instead
		check     func(t *testing.T, c *Controller, rate float64)
		wantPhase Phase
	}{
		{name: "startup doubles per reference delay", phase: Startup, fn: ramp,
			wantRate: grow(2), wantPhase: Startup},
		{name: "startup: one reading over the mark is jitter", phase: Startup, fn: ramp, q: 20 * time.Millisecond,
			wantRate: grow(2), wantPhase: Startup},
		{name: "startup: two readings over the mark, overshot: drain", phase: Startup, fn: ramp, q: 20 * time.Millisecond,
			setup:    func(c *Controller, _ *reading) { c.over, c.recv[0] = 1, 20e6 },
			wantRate: DrainGain * 20e6, wantPhase: Drain},
		{name: "startup: two readings over the mark, near the goodput: steady", phase: Startup, fn: ramp, q: 20 * time.Millisecond,
			setup:    func(c *Controller, _ *reading) { c.over, c.recv[0] = 1, 48e6 },
			wantRate: 48e6, wantPhase: Steady},
		{name: "probe grows gently near the capacity seen", phase: Probe, fn: ramp,
			setup:    func(c *Controller, _ *reading) { c.capEst = 55e6 },
			wantRate: grow(1.25), wantPhase: Probe},
		{name: "probe far below the capacity seen grows as startup", phase: Probe, fn: ramp,
			setup:    func(c *Controller, _ *reading) { c.capEst = 100e6 },
			wantRate: grow(2), wantPhase: Probe},
		{name: "probe: a queue ends it in steady at the goodput", phase: Probe, fn: ramp, q: 20 * time.Millisecond,
			setup:    func(c *Controller, _ *reading) { c.over, c.recv[0] = 1, 20e6 },
			wantRate: 20e6, wantPhase: Steady},
		{name: "drain holds while the queue still grows", phase: Drain, fn: drain, q: 20 * time.Millisecond,
			setup:    func(c *Controller, _ *reading) { c.bw = 40e6 },
			wantRate: DrainGain * 40e6, wantPhase: Drain},
		{name: "drain ends once the queue peaked and fell", phase: Drain, fn: drain, q: 5 * time.Millisecond,
			setup:    func(c *Controller, _ *reading) { c.bw, c.drainPeak = 40e6, 30*time.Millisecond },
			wantRate: 40e6, wantPhase: Steady},
		{name: "drain ends after four reference delays whatever the queue", phase: Drain, fn: drain, q: 50 * time.Millisecond,
			setup:    func(c *Controller, _ *reading) { c.bw, c.phaseFor = 40e6, 4*ref },
			wantRate: 40e6, wantPhase: Steady},
		{name: "slowdown cuts to a quarter", phase: Slowdown, fn: slowdown,
			setup:    func(c *Controller, rd *reading) { c.saved, c.phaseFor = 80e6, dt },
			wantRate: 20e6, wantPhase: Slowdown},
		{name: "slowdown ends when the queue stops shrinking", phase: Slowdown, fn: slowdown,
			setup: func(c *Controller, rd *reading) {
				c.saved, c.phaseFor, c.improved, c.flat, c.slowMin = 80e6, 5*dt, true, 2, rd.f.MinOWD
			},
			wantRate: 80e6, wantPhase: Steady},
		{name: "slowdown with no queue to drain ends after a reference delay", phase: Slowdown, fn: slowdown,
			setup: func(c *Controller, rd *reading) {
				c.saved, c.phaseFor, c.slowMin = 80e6, ref, rd.f.MinOWD
			},
			wantRate: 80e6, wantPhase: Steady},
		{name: "compete steers to half the capacity", phase: Compete, fn: compete, q: 40 * time.Millisecond,
			setup: func(c *Controller, _ *reading) { c.capEst = 60e6 },
			check: func(t *testing.T, c *Controller, rate float64) {
				g := 1 - math.Pow(1-Gamma, dt.Seconds()/ref.Seconds())
				if want := rate0 + g*(30e6-rate0); rate != want {
					t.Errorf("rate %v, want %v", rate, want)
				}
			}, wantPhase: Compete},
		{name: "compete ends when the queue drained", phase: Compete, fn: compete,
			setup:    func(c *Controller, _ *reading) { c.capEst, c.lowFrac, c.highFrac = 60e6, DrainedShare, 1 },
			wantRate: rate0, wantPhase: Steady},
		{name: "steady at equilibrium holds its rate", phase: Steady, fn: steady,
			setup: func(c *Controller, rd *reading) {
				c.slowAfter = SlowdownEvery
				c.q = time.Duration(Alpha / rate0 * float64(time.Second))
				rd.qS = c.q.Seconds()
				c.win = rate0 * (rd.refS + rd.qS)
				c.lastEmpty = rd.now
			},
			check: func(t *testing.T, c *Controller, rate float64) {
				if math.Abs(rate-rate0) > 1 {
					t.Errorf("rate %v, want %v", rate, rate0)
				}
			}, wantPhase: Steady},
		{name: "steady: an empty queue for two reference delays probes", phase: Steady, fn: steady,
			setup: func(c *Controller, rd *reading) {
				c.slowAfter, c.emptyFor, c.lastEmpty = SlowdownEvery, 2*ref-dt, rd.now
			},
			wantPhase: Probe},
		{name: "steady: a standing queue above the mark competes", phase: Steady, fn: steady, q: 40 * time.Millisecond,
			setup: func(c *Controller, rd *reading) {
				c.slowAfter, c.highFrac, c.lastEmpty = SlowdownEvery, CompeteShare, rd.now
			},
			wantPhase: Compete},
		{name: "steady: no empty queue for SlowdownEvery slows down", phase: Steady, fn: steady, q: 5 * time.Millisecond,
			setup: func(c *Controller, rd *reading) {
				c.slowAfter, c.lastEmpty = SlowdownEvery, rd.now.Add(-SlowdownEvery)
			},
			check: func(t *testing.T, c *Controller, rate float64) {
				if c.saved != rate {
					t.Errorf("saved %v, want the rate left %v", c.saved, rate)
				}
			}, wantPhase: Slowdown},
		{name: "steady low retreats behind a long queue", phase: Steady, fn: steady, q: 2 * LowTargetDelay,
			setup: func(c *Controller, rd *reading) {
				c.cfg.Policy, rd.policy = Low, Low
				rd.alpha = c.alpha()
				c.slowAfter, c.lastEmpty = SlowdownEvery, rd.now
				c.win = 1e6
			},
			check: func(t *testing.T, c *Controller, rate float64) {
				if c.win >= 1e6 {
					t.Errorf("window %v did not shrink", c.win)
				}
			}, wantPhase: Steady},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			c := NewController(Config{Policy: Fair}, clk)
			c.rate, c.phase, c.rtt, c.interval = rate0, tc.phase, ref/2-dt, dt
			c.base, c.haveBase = time.Second, true
			c.q = tc.q
			rd := reading{
				f:   Feedback{RecvRate: rate0, Received: 100, MinOWD: time.Second + tc.q},
				now: clk.Now(), dt: dt, ref: c.ref(), policy: Fair,
			}
			if rd.ref != ref {
				t.Fatalf("setup: reference delay %v, want %v", rd.ref, ref)
			}
			rd.refS, rd.qS, rd.rawQS, rd.dtS = ref.Seconds(), tc.q.Seconds(), tc.q.Seconds(), dt.Seconds()
			rd.alpha = c.alpha()
			rd.qEq = rd.alpha / c.rate
			if tc.setup != nil {
				tc.setup(c, &rd)
			}
			rate := tc.fn(c, rd)
			if tc.wantRate != 0 && math.Abs(rate-tc.wantRate) > 1e-6*tc.wantRate {
				t.Errorf("rate %.0f, want %.0f", rate, tc.wantRate)
			}
			if tc.check != nil {
				tc.check(t, c, rate)
			}
			if c.phase != tc.wantPhase {
				t.Errorf("phase %s, want %s", c.phase, tc.wantPhase)
			}
		})
	}
}
