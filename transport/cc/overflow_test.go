package cc

import (
	"fmt"
	"testing"
	"time"
)

// TestShortPathOverflow: on lan-1g (10 ms, 1 Gbit/s) ferry retransmitted
// 5-17 % of what it sent over a link that lost nothing: every drop was in
// the TUN queue wanem reads from, a few milliseconds deep, which the delay
// law (aiming for the jitter allowance plus its budget, 6 ms with four
// sessions) held at the brim. A buffer that small, and a forwarder that
// stops for a few milliseconds now and then, must cost at most a couple
// of per cent of what is sent, and the link stays full.
func TestShortPathOverflow(t *testing.T) {
	seed := testSeed(t)
	const (
		C   = 1e9
		owd = 5 * time.Millisecond
	)
	for _, tc := range []struct {
		flows   int
		stall   float64 // chance per millisecond that forwarding stops for 2-10 ms
		maxDrop float64 // of what is sent
		minGood float64 // of the link, all flows together
	}{
		{1, 0, 0.02, 0.9},
		{4, 0, 0.02, 0.9},
		{1, 0.005, 0.05, 0.85},
		{4, 0.005, 0.05, 0.85},
	} {
		t.Run(fmt.Sprintf("flows=%d/stall=%g", tc.flows, tc.stall), func(t *testing.T) {
			s := newSim(C, C*0.006, owd, owd, seed)
			s.stall, s.stallLo, s.stallHi = tc.stall, 2*time.Millisecond, 10*time.Millisecond
			var fl []*simFlow
			for range tc.flows {
				fl = append(fl, s.add(&simFlow{ctl: NewController(Config{Policy: Fair}, s.clk), hintRTT: true,
					jitter: 0.1, jitterLo: time.Millisecond, jitterHi: 8 * time.Millisecond}))
			}
			s.measureFrom()
			s.run(10 * time.Second)
			good := 0.0
			for _, f := range fl {
				good += s.throughput(f)
			}
			drop := s.tailDrop / s.sentWin
			t.Logf("goodput %.1f%% of the link, dropped %.2f%% of what was sent, queue mean %v max %v",
				100*good/C, 100*drop, s.meanQueueDelay(), s.maxQueueDelay())
			if drop > tc.maxDrop {
				t.Errorf("dropped %.2f%% of what was sent, want <= %.0f%%", 100*drop, 100*tc.maxDrop)
			}
			if good < tc.minGood*C {
				t.Errorf("goodput %.1f%% of the link, want >= %.0f%%", 100*good/C, 100*tc.minGood)
			}
		})
	}
}

// TestShortPathRandomLossIsNotOverflow: the overflow rule must not take a
// short path's own random loss for a full queue and cut the rate again
// and again: the share lost on average rises with it.
func TestShortPathRandomLossIsNotOverflow(t *testing.T) {
	seed := testSeed(t)
	const (
		C   = 1e9
		owd = 5 * time.Millisecond
	)
	for _, loss := range []float64{0.01, 0.05, 0.1} {
		t.Run(fmt.Sprintf("loss=%g", loss), func(t *testing.T) {
			s := newSim(C, C*0.02, owd, owd, seed)
			f := s.add(&simFlow{ctl: NewController(Config{Policy: Fair}, s.clk), hintRTT: true, loss: loss,
				jitter: 0.1, jitterLo: time.Millisecond, jitterHi: 8 * time.Millisecond})
			s.run(5 * time.Second)
			s.measureFrom()
			s.run(10 * time.Second)
			good := s.throughput(f) / (1 - loss)
			t.Logf("goodput %.1f%% of what the link delivers, rate [%.0f, %.0f] Mbit/s", 100*good/C, f.minRate/1e6, f.maxRate/1e6)
			if good < 0.85*C {
				t.Errorf("goodput %.1f%% of what the link delivers, want >= 85%%", 100*good/C)
			}
		})
	}
}
