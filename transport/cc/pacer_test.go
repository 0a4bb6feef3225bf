package cc

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// paceFor runs a sender against p for d of simulated time, sleeping as Allow
// says (rounded up to timerSlack, like a Go timer) and returns bytes sent.
func paceFor(clk *fakeClock, p *Pacer, d time.Duration, pkt int, slack func() time.Duration) int {
	end := clk.t.Add(d)
	sent := 0
	for i := 0; clk.t.Before(end) && i < 100_000_000; i++ {
		ok, wait := p.Allow(pkt)
		if ok {
			p.Sent(pkt)
			sent += pkt
			continue
		}
		clk.advance(wait + slack())
	}
	return sent
}

func TestPacerAccuracy(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, tc := range []struct {
		rate  float64
		pkt   int
		slack string
	}{
		{100e6, 1400, "exact"},
		{100e6, 1400, "timer"},
		{1e9, 1400, "timer"},
		{2e6, 1400, "timer"},
		{300e3, 1400, "timer"}, // burst floor of one packet dominates
		{50e6, 9000, "timer"},
	} {
		t.Run(fmt.Sprintf("%gbps_%dB_%s", tc.rate, tc.pkt, tc.slack), func(t *testing.T) {
			clk := newFakeClock()
			p := NewPacer(clk, tc.rate)
			slack := func() time.Duration { return 0 }
			if tc.slack == "timer" {
				// Timers fire up to a millisecond and a bit late.
				slack = func() time.Duration { return time.Duration(rng.Int64N(int64(1200 * time.Microsecond))) }
			}
			const d = 10 * time.Second
			got := float64(paceFor(clk, p, d, tc.pkt, slack)) * 8 / d.Seconds()
			t.Logf("%.4g bit/s sent at %.4g", got, tc.rate)
			if math.Abs(got-tc.rate) > 0.01*tc.rate {
				t.Errorf("sent %.4g bit/s over 10 s, want %.4g ± 1%%", got, tc.rate)
			}
		})
	}
}

func TestPacerBurstIsAtMostTwoMilliseconds(t *testing.T) {
	for _, rate := range []float64{1e6, 100e6, 1e9, 10e9} {
		clk := newFakeClock()
		p := NewPacer(clk, rate)
		const pkt = 1200
		clk.advance(time.Hour) // idle for long: the bucket must not hoard
		burst := 0
		for i := 0; i < 1_000_000; i++ {
			ok, _ := p.Allow(pkt)
			if !ok {
				break
			}
			p.Sent(pkt)
			burst += pkt
		}
		limit := math.Max(rate/8*PacerBurst.Seconds(), pkt)
		if float64(burst) > limit {
			t.Errorf("rate %g: burst of %d bytes after idling, want <= %.0f (2 ms or one packet)", rate, burst, limit)
		}
		if float64(burst) < limit-pkt {
			t.Errorf("rate %g: burst of only %d bytes, want about %.0f so a late timer loses nothing", rate, burst, limit)
		}
	}
}

func TestPacerSetRateLive(t *testing.T) {
	clk := newFakeClock()
	p := NewPacer(clk, 10e6)
	none := func() time.Duration { return 0 }
	a := paceFor(clk, p, 2*time.Second, 1000, none)
	p.SetRate(40e6)
	b := paceFor(clk, p, 2*time.Second, 1000, none)
	p.SetRate(5e6)
	c := paceFor(clk, p, 2*time.Second, 1000, none)
	for _, x := range []struct {
		name      string
		got, want float64
	}{{"10M", float64(a), 10e6 / 8 * 2}, {"40M", float64(b), 40e6 / 8 * 2}, {"5M", float64(c), 5e6 / 8 * 2}} {
		if math.Abs(x.got-x.want) > 0.01*x.want {
			t.Errorf("%s phase: %.0f bytes in 2 s, want %.0f ± 1%%", x.name, x.got, x.want)
		}
	}

	// Lowering the rate takes effect on the very next Allow: the bucket is
	// cut to the new burst size.
	clk.advance(time.Second)
	p.SetRate(1e6)
	burst := 0
	for ok, _ := p.Allow(100); ok; ok, _ = p.Allow(100) {
		p.Sent(100)
		burst += 100
	}
	if limit := math.Max(1e6/8*PacerBurst.Seconds(), 1000); float64(burst) > limit {
		t.Errorf("after SetRate(1e6) sent a burst of %d bytes, want <= %.0f", burst, limit)
	}
}

func TestPacerWaitIsExact(t *testing.T) {
	clk := newFakeClock()
	p := NewPacer(clk, 8e6) // 1 byte per µs
	for ok, _ := p.Allow(1000); ok; ok, _ = p.Allow(1000) {
		p.Sent(1000)
	}
	ok, wait := p.Allow(1000)
	if ok || wait <= 0 || wait > time.Millisecond {
		t.Fatalf("Allow on an empty bucket = %v, %v; want false and at most 1 ms", ok, wait)
	}
	clk.advance(wait - time.Microsecond)
	if ok, _ := p.Allow(1000); ok {
		t.Errorf("allowed before the wait it announced was over")
	}
	clk.advance(time.Microsecond)
	if ok, _ := p.Allow(1000); !ok {
		t.Errorf("not allowed after waiting %v as told", wait)
	}
}

func TestPacerZeroRateIsUnpaced(t *testing.T) {
	clk := newFakeClock()
	p := NewPacer(clk, 0)
	for i := 0; i < 1000; i++ {
		if ok, _ := p.Allow(1500); !ok {
			t.Fatalf("unpaced pacer refused packet %d", i)
		}
		p.Sent(1500)
	}
}

func BenchmarkPacerAllow(b *testing.B) {
	clk := newFakeClock()
	p := NewPacer(clk, 1e9)
	for ok, _ := p.Allow(1400); ok; ok, _ = p.Allow(1400) {
		p.Sent(1400) // start from an empty bucket so the metric is the paced rate
	}
	t0 := clk.t
	sent := 0
	for b.Loop() {
		clk.advance(100 * time.Nanosecond)
		if ok, _ := p.Allow(1400); ok {
			p.Sent(1400)
			sent += 1400
		}
	}
	b.ReportMetric(float64(sent)*8/clk.t.Sub(t0).Seconds()/1e9, "Gbit/s-paced")
}

// TestPacerHoldsRateWhenWakingLate: on a busy host the sender's timer
// fires several milliseconds late. Each late wake-up must be able to send
// what accrued meanwhile, or the rate falls to a burst per wake-up: at
// 6 ms late and 2 ms bursts, a third of the rate.
func TestPacerHoldsRateWhenWakingLate(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	for _, rate := range []float64{40e6, 100e6, 1e9} {
		clk := newFakeClock()
		p := NewPacer(clk, rate)
		late := func() time.Duration { return 3*time.Millisecond + time.Duration(rng.Int64N(int64(4*time.Millisecond))) }
		const d = 5 * time.Second
		got := float64(paceFor(clk, p, d, 1400, late)) * 8 / d.Seconds()
		t.Logf("%.4g bit/s sent at %.4g with wake-ups 3-7 ms late", got, rate)
		if got < 0.97*rate || got > 1.01*rate {
			t.Errorf("rate %.4g: sent %.4g bit/s with late wake-ups, want within -3%%/+1%%", rate, got)
		}
	}
}
