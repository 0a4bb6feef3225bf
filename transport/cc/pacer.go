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
	p.tokens = p.burst()
	return p
}

func toBytes(bps float64) float64 {
	if bps <= 0 || math.IsInf(bps, 1) || math.IsNaN(bps) {
		return 0
	}
	return bps / 8
}

// burst is the bucket's depth in bytes: PacerBurst of traffic, at least
// one packet, so a slow rate can still send its largest packet.
func (p *Pacer) burst() float64 {
	b := p.rate * PacerBurst.Seconds()
	if m := float64(p.maxPkt); b < m {
		b = m
	}
	return b
}

func (p *Pacer) refill(now time.Time) {
	if el := now.Sub(p.last); el > 0 {
		p.tokens += p.rate * el.Seconds()
		p.last = now
	}
	if b := p.burst(); p.tokens > b {
		p.tokens = b
	}
}

// SetRate changes the rate (bits/s) from now on; tokens earned so far were
// earned at the old rate.
func (p *Pacer) SetRate(bps float64) {
	p.refill(p.clk.Now())
	p.rate = toBytes(bps)
	if b := p.burst(); p.tokens > b {
		p.tokens = b
	}
}

// Rate returns the current rate in bits/s (0 when unpaced).
func (p *Pacer) Rate() float64 { return p.rate * 8 }

// Allow reports whether n bytes may be sent now, and if not how long to wait
// before asking again. It does not consume tokens: call Sent for what was
// actually written.
func (p *Pacer) Allow(n int) (ok bool, wait time.Duration) {
	if p.rate == 0 {
		return true, 0
	}
	if n > p.maxPkt {
		p.maxPkt = n
	}
	p.refill(p.clk.Now())
	need := float64(n)
	if p.tokens >= need {
		return true, 0
	}
	wait = time.Duration(math.Ceil((need - p.tokens) / p.rate * float64(time.Second)))
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
