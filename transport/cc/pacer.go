package cc

import (
	"math"
	"time"
)

// PacerBurst is how much traffic the pacer lets out at once: Go timers fire
// a millisecond or so late, so a bucket smaller than that would lose rate
// every time the sender oversleeps, and a much bigger one would hit the
// bottleneck queue with needless bursts.
const PacerBurst = 2 * time.Millisecond

// MaxCatchUp is the longest late wake-up whose whole accrual may still be
// sent at once (see refill).
const MaxCatchUp = 8 * time.Millisecond

// defaultPacket is the burst floor before any packet size has been seen.
const defaultPacket = 1500

// Pacer is a token bucket that spreads a sending rate over time. It is owned
// by one goroutine (the sender's loop) and is not safe for concurrent use.
type Pacer struct {
	clk    Clock
	rate   float64 // bytes per second; <= 0 means unpaced
	tokens float64 // bytes; may go negative when more was sent than allowed
	last   time.Time
	maxPkt int
}

// NewPacer returns a pacer for rate bits/s whose bucket starts full. A rate
// of zero or less (or +Inf) disables pacing.
func NewPacer(clk Clock, rate float64) *Pacer {
	p := &Pacer{clk: clk, maxPkt: defaultPacket}
	p.last = clk.Now()
	p.rate = toBytes(rate)
	p.tokens = p.depth()
	return p
}

func toBytes(bps float64) float64 {
	if bps <= 0 || math.IsInf(bps, 1) || math.IsNaN(bps) {
		return 0
	}
	return bps / 8
}

// depth is how many bytes the bucket banks. Allow lets a packet out while the
// balance is not negative, so a full bucket releases depth plus one packet at
// most; depth is chosen so that is at most PacerBurst of traffic, or a single
// packet when PacerBurst is less than one, while still banking about a
// millisecond or more so that a timer that fires late costs no rate.
func (p *Pacer) depth() float64 {
	b := p.rate * PacerBurst.Seconds()
	n := float64(p.maxPkt)
	if b <= n {
		return b
	}
	return math.Max(b-n, n-1)
}

func (p *Pacer) refill(now time.Time) {
	if el := now.Sub(p.last); el > 0 {
		p.last = now
		// A sender that wakes late (a busy host: the emulator, the other
		// end and the build all on two cores) would lose whatever accrued
		// beyond one burst, and a run of late wake-ups left it sending
		// well below its rate while the controller believed otherwise.
		// So a gap of up to MaxCatchUp banks all of its accrual; a longer
		// gap is idleness, and idleness hoards only one burst.
		limit := p.depth()
		if el <= MaxCatchUp {
			limit = math.Max(limit, p.rate*el.Seconds())
		}
		if p.tokens < limit {
			p.tokens = math.Min(p.tokens+p.rate*el.Seconds(), limit)
		}
	}
}

// SetRate changes the rate (bits/s) from now on; tokens earned so far were
// earned at the old rate.
func (p *Pacer) SetRate(bps float64) {
	p.refill(p.clk.Now())
	p.rate = toBytes(bps)
	if d := p.depth(); p.tokens > d {
		p.tokens = d
	}
}

// Rate returns the current rate in bits/s (0 when unpaced).
func (p *Pacer) Rate() float64 { return p.rate * 8 }

// Allow reports whether a packet of n bytes may be sent now, and if not how
// long to wait before asking again. It does not consume tokens: call Sent for
// what was actually written. A packet goes out while the balance is not
// negative and may overdraw it; the wait then repays the debt, so the
// long-run rate is exact whatever the packet sizes.
func (p *Pacer) Allow(n int) (ok bool, wait time.Duration) {
	if p.rate == 0 {
		return true, 0
	}
	if n > p.maxPkt {
		p.maxPkt = n
	}
	p.refill(p.clk.Now())
	if p.tokens >= 0 {
		return true, 0
	}
	wait = time.Duration(math.Ceil(-p.tokens / p.rate * float64(time.Second)))
	if wait < 1 {
		wait = 1
	}
	return false, wait
}

// Sent accounts n bytes as sent. Sending more than Allow permitted (say, a
// retransmission that could not wait) leaves a debt that delays what follows,
// so the long-run rate still holds.
func (p *Pacer) Sent(n int) {
	if p.rate == 0 {
		return
	}
	p.refill(p.clk.Now())
	p.tokens -= float64(n)
	// A debt deeper than one second of traffic means the caller ignores the
	// pacer; forgiving the rest keeps a later rate increase from stalling.
	if floor := -p.rate; p.tokens < floor {
		p.tokens = floor
	}
}
