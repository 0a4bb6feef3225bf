package cc

import (
	"fmt"
	"testing"
	"time"
)

// lanes adds n controllers that are one transfer's n sessions (Share
// 1/n, the caps split as transport/remote splits them), built by flow.
func lanes(s *sim, n int, cfg Config, flow func(*Controller) *simFlow) []*simFlow {
	cfg.Share = 1 / float64(n)
	cfg.TargetRate /= float64(n)
	cfg.MinRate /= float64(n)
	cfg.MaxRate /= float64(n)
	var fl []*simFlow
	for range n {
		fl = append(fl, s.add(flow(NewController(cfg, s.clk))))
	}
	return fl
}

func (s *sim) throughputOf(fl []*simFlow) float64 {
	t := 0.0
	for _, f := range fl {
		t += s.throughput(f)
	}
	return t
}

// TestSessionsKeepOneFlowsQueue: on lan-1g (10 ms, 1 Gbit/s, a TUN
// queue a few milliseconds deep) four sessions of one transfer
// retransmitted 2-6 % where one session lost about 1 %: each ran the
// delay law with a whole flow's queue budget, so together they aimed for
// four times the queue one flow keeps and held the small buffer at its
// brim. As one transfer's quarters (Share 1/4) they must keep about one
// flow's queue, lose no more than one flow does, and still fill the link.
func TestSessionsKeepOneFlowsQueue(t *testing.T) {
	seed := testSeed(t)
	const (
		C   = 1e9
		owd = 5 * time.Millisecond
		buf = 0.003 * C // 3 ms
	)
	for _, tc := range []struct {
		stall   float64 // chance per millisecond that forwarding stops for 2-10 ms
		maxDrop float64 // of what is sent
		minGood float64 // of the link, all sessions together
	}{
		{0, 0.02, 0.95},
		{0.005, 0.06, 0.9},
	} {
		t.Run(fmt.Sprintf("stall=%g", tc.stall), func(t *testing.T) {
			run := func(n int) (good, drop float64, q time.Duration) {
				s := newSim(C, buf, owd, owd, seed)
				s.stall, s.stallLo, s.stallHi = tc.stall, 2*time.Millisecond, 10*time.Millisecond
				fl := lanes(s, n, Config{Policy: Fair}, func(c *Controller) *simFlow {
					return &simFlow{ctl: c, hintRTT: true, jitter: 0.1, jitterLo: time.Millisecond, jitterHi: 8 * time.Millisecond}
				})
				s.run(5 * time.Second)
				s.measureFrom()
				s.run(10 * time.Second)
				return s.throughputOf(fl) / C, s.tailDrop / s.sentWin, s.meanQueueDelay()
			}
			good1, drop1, q1 := run(1)
			good, drop, q := run(4)
			t.Logf("one session: goodput %.1f%%, dropped %.2f%%, queue mean %v; four: goodput %.1f%%, dropped %.2f%%, queue mean %v",
				100*good1, 100*drop1, q1, 100*good, 100*drop, q)
			if drop > tc.maxDrop || drop > drop1+0.01 {
				t.Errorf("four sessions dropped %.2f%% of what they sent, one %.2f%%: want <= %.0f%% and at most one point more than one session",
					100*drop, 100*drop1, 100*tc.maxDrop)
			}
			if good < tc.minGood {
				t.Errorf("four sessions together got %.1f%% of the link, want >= %.0f%%", 100*good, 100*tc.minGood)
			}
			if q > q1+time.Millisecond {
				t.Errorf("four sessions kept a mean queue of %v, one session %v: want at most 1 ms more", q, q1)
			}
		})
	}
}

// TestSessionsTakeOneFlowsShareFromTCP: next to one loss-based TCP on
// the bench-fair link (100 Mbit/s, 100 ms, a drop-tail buffer one round
// trip deep) four sessions of one transfer take what one fair flow
// takes, and four low sessions still leave TCP the link. Without Share
// each session's competition mark was set by its own budget over its
// quarter of the capacity, four times one flow's: the four never took
// TCP's queue for a buffer-filling flow and together got about a quarter.
func TestSessionsTakeOneFlowsShareFromTCP(t *testing.T) {
	seed := testSeed(t)
	const C = 100e6
	for _, tc := range []struct {
		pol          Policy
		cubic, probe bool
	}{
		{Fair, true, false},
		{Fair, false, false},
		{Fair, true, true},
		{Low, true, false},
		{Low, true, true},
	} {
		name := "reno"
		if tc.cubic {
			name = "cubic"
		}
		if tc.probe {
			name += "+probertt"
		}
		t.Run(fmt.Sprintf("%s_vs_%s", tc.pol, name), func(t *testing.T) {
			owd := 50 * time.Millisecond
			s := newSim(C, C*2*owd.Seconds(), owd, owd, seed)
			fl := lanes(s, 4, Config{Policy: tc.pol, MinRate: 1e6}, func(c *Controller) *simFlow {
				return &simFlow{ctl: c, offset: 2 * time.Second, hintRTT: true}
			})
			model := newTCP(tc.cubic)
			model.probeRTT = tc.probe
			tcp := s.add(&simFlow{tcp: model, start: 5 * time.Second})
			s.run(15 * time.Second)
			s.measureFrom()
			s.run(60 * time.Second)
			tf, tt := s.throughputOf(fl), s.throughput(tcp)
			t.Logf("four %s sessions %.1f%%, TCP %.1f%%, queue mean %v", tc.pol, 100*tf/C, 100*tt/C, s.meanQueueDelay())
			switch tc.pol {
			case Fair:
				for who, x := range map[string]float64{"the four sessions": tf, "TCP": tt} {
					if x < 0.4*C || x > 0.6*C {
						t.Errorf("%s got %.1f%% of the link, want 40-60%%", who, 100*x/C)
					}
				}
			case Low:
				if tt < 0.8*C {
					t.Errorf("TCP got %.1f%% next to four low sessions, want >= 80%%", 100*tt/C)
				}
			}
			if tf+tt < 0.9*C {
				t.Errorf("together %.1f%% of the link, want >= 90%%", 100*(tf+tt)/C)
			}
		})
	}
}

// TestSessionsTakeOneFlowsShareFromAnotherFlow: a transfer over four
// sessions and one over a single session, both fair, share a path
// evenly; with a whole flow's budget each, the four took four fifths.
func TestSessionsTakeOneFlowsShareFromAnotherFlow(t *testing.T) {
	seed := testSeed(t)
	const C = 100e6
	owd := 50 * time.Millisecond
	s := newSim(C, C*0.2, owd, owd, seed)
	four := lanes(s, 4, Config{Policy: Fair}, func(c *Controller) *simFlow {
		return &simFlow{ctl: c, hintRTT: true, offset: time.Second}
	})
	one := s.add(&simFlow{ctl: NewController(Config{Policy: Fair}, s.clk), hintRTT: true, start: 3 * time.Second, offset: -time.Second})
	for range 40000 {
		s.step()
		for i, f := range append([]*simFlow{one}, four...) {
			if p := f.ctl.Stats().Phase; p == Compete {
				t.Fatalf("flow %d entered %s at %v: the flows are all ferry's", i, p, s.now)
			}
		}
	}
	s.measureFrom()
	s.run(20 * time.Second)
	t4, t1 := s.throughputOf(four), s.throughput(one)
	t.Logf("four sessions %.1f%%, one session %.1f%%, queue mean %v", 100*t4/C, 100*t1/C, s.meanQueueDelay())
	for who, x := range map[string]float64{"the four-session transfer": t4, "the one-session transfer": t1} {
		if x < 0.4*C || x > 0.6*C {
			t.Errorf("%s got %.1f%% of the link, want 40-60%%", who, 100*x/C)
		}
	}
}

// TestShareScalesQueueBudget: a flow that is part of a transfer keeps
// that part of its policy's queue budget; a Share out of (0, 1] is a
// flow of its own.
func TestShareScalesQueueBudget(t *testing.T) {
	clk := newFakeClock()
	for _, tc := range []struct {
		cfg  Config
		want float64
	}{
		{Config{Policy: Fair}, Alpha},
		{Config{Policy: Fair, Share: 1}, Alpha},
		{Config{Policy: Fair, Share: 0.25}, Alpha / 4},
		{Config{Policy: High, Share: 0.25}, 2 * Alpha / 4},
		{Config{Policy: Low, Share: 0.5, TargetRate: 1e9}, Alpha / 10 / 2},
		{Config{Policy: Fair, Share: -1}, Alpha},
		{Config{Policy: Fair, Share: 4}, Alpha},
	} {
		c := NewController(tc.cfg, clk)
		c.rate = 1e9
		if got := c.alpha(); got != tc.want {
			t.Errorf("%+v: queue budget %.0f bits, want %.0f", tc.cfg, got, tc.want)
		}
		if got, want := c.Stats().Share, tc.want/(&Controller{cfg: Config{Policy: tc.cfg.Policy}, rate: 1e9}).alpha(); got != want {
			t.Errorf("%+v: Stats().Share %v, want %v", tc.cfg, got, want)
		}
	}
}
