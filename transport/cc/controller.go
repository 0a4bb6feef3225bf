package cc

import (
	"math"
	"time"
)

// Clock is the controller's and pacer's view of time, injected so that tests
// can move it by hand.
type Clock interface{ Now() time.Time }

// Policy selects how the rate reacts to other traffic.
type Policy string

const (
	// Fixed paces at TargetRate and ignores delay and loss.
	Fixed Policy = "fixed"
	// High is Fair with twice the queue budget: it takes about twice the share
	// of a fair flow.
	High Policy = "high"
	// Fair aims for an equal share with other ferry flows and backs off as
	// the bottleneck queue grows. It is the default.
	Fair Policy = "fair"
	// Low is a scavenger: a tenth of fair's queue budget, and a retreat to
	// MinRate while the queueing delay is above LowTargetDelay.
	Low Policy = "low"
)

// Tuning. The delay law is FAST TCP's: each flow keeps Alpha bits queued at
// the bottleneck, so at equilibrium rate × queueing delay = Alpha, and flows
// sharing a queue see the same delay and settle at the same rate.
const (
	// Alpha is fair's queue budget in bits: 500 kbit is a 5 ms queue at
	// 100 Mbit/s, 0.5 ms at 1 Gbit/s and 50 ms at 10 Mbit/s. Much smaller
	// and the 1 Gbit/s equilibrium (0.5 ms) drowns in host timer jitter and
	// in error of the base delay; much larger and slow links carry a long queue.
	Alpha = 500e3
	// Gamma is the share of the gap to the FAST target closed per reference
	// delay (FAST's γ per RTT); each 10 ms feedback applies the matching
	// fraction so the law does not depend on how often feedback comes.
	Gamma = 0.5
	// LowTargetDelay is the queueing delay above which Low retreats to
	// MinRate. 25 ms is well above the queue Fair and High flows keep at
	// useful rates (≤ 5 ms at 100 Mbit/s) yet below what a loss-based TCP
	// builds in any buffer worth the name, which is the traffic Low must
	// yield to.
	LowTargetDelay = 25 * time.Millisecond
	// DefaultRTT is assumed when Feedback.RTT is zero. The rate is derived
	// from a window over a reference delay of twice the round trip; an
	// assumed round trip shorter than the real one makes the loop ring, a
	// longer one only slows it, so the default errs long.
	DefaultRTT = 200 * time.Millisecond
	// MinRTT bounds the round trip from below so that a LAN's tiny one does
	// not make the loop chase single-interval noise.
	MinRTT = 10 * time.Millisecond
	// JitterMax, JitterShare and ShortRTT bound the queueing delay read as
	// host jitter rather than as a queue on a short path: JitterMax, at
	// most JitterShare of the smallest round trip seen, is taken off every
	// reading before the delay law and the marks that end a ramp see it,
	// up to a round trip of ShortRTT, tapering to nothing at twice that.
	// On a 10 ms, 1 Gbit/s path (lan-1g) FAST's equilibrium queue is
	// Alpha/C = 0.5 ms, while a busy host or a user-space link emulator
	// delays whole feedback intervals by 1–8 ms: read as a queue, that
	// ended startup early and held the rate at a fraction of the link. The
	// allowance is absolute because the jitter is the host's; JitterShare
	// keeps it below the round trip on paths of a few milliseconds; long
	// paths keep the plain law, whose queue budget (5 ms at 100 Mbit/s)
	// is what Compete, Low and bench-fair were tuned against. Flows
	// sharing a queue over similar paths take the same allowance off the
	// same delay, so they still settle at the same rate; each keeps the
	// allowance more queued.
	JitterMax   = 4 * time.Millisecond
	JitterShare = 0.4
	ShortRTT    = 20 * time.Millisecond
	// OverflowLoss, OverflowMemory and AllowanceRecover govern the one
	// loss signal Fair and High heed, on short paths only (where the
	// jitter allowance applies): an interval losing at least OverflowLoss
	// of its packets, and at least twice the share lost on average over
	// OverflowMemory, is a queue overflowing before the delay law saw its
	// equilibrium. A small buffer (a TUN queue, a switch port) or a host
	// that stops forwarding for a few milliseconds does that; the law,
	// aiming for the allowance plus its budget, would hold the queue at
	// the brim and keep losing (lan-1g: 5-17 % retransmitted). The rate
	// falls to the goodput, the allowance halves, and it grows back over
	// AllowanceRecover. A path's usual random loss raises the average with
	// it, so it does not fire on that; long paths never take it: loss
	// there is the path's, and FAST's delay law alone decides.
	OverflowLoss     = 0.02
	OverflowMemory   = 5 * time.Second
	AllowanceRecover = 30 * time.Second
	// InitialRate caps the starting rate when the target is large or unset.
	InitialRate = 25e6
	// FloorRate is the lowest rate ever used, even with MinRate 0, so that
	// delay samples keep coming and the flow can notice the link clearing.
	FloorRate = 100e3
	// CeilingRate stands in for "unlimited" when neither TargetRate nor
	// MaxRate is set.
	CeilingRate = 10e9
	// SlowdownEvery is how long a flow goes without seeing an empty queue
	// before it makes one. At a 100 ms round trip a slowdown costs about
	// 0.3 s of three-quarters rate, so 1% at most.
	SlowdownEvery = 30 * time.Second
	// DrainGain is the share of the measured bottleneck rate sent while the
	// startup overshoot drains out of the queue.
	DrainGain = 0.75

	// CompeteQueue is how many times its own-share equilibrium queue
	// (Alpha over the estimated capacity) a Fair or High flow tolerates
	// before it suspects a buffer-filling flow. Delay-based flows sharing a
	// link each hold about their own share of queue, so it takes several of
	// them arriving at once to get near this; a loss-based TCP holds tens of
	// times more.
	CompeteQueue = 5
	// CompeteMinDelay is the lowest queueing delay ever read as a
	// buffer-filling flow, so that host timer jitter on a fast LAN (where
	// Alpha is a fraction of a millisecond) does not.
	CompeteMinDelay = 15 * time.Millisecond
	// CompeteAfter is the time constant (at least four reference delays)
	// over which the share of time the queue spends above the threshold is
	// averaged; the flow competes once that share reaches CompeteShare,
	// after 1.8 s of a queue that stays up, longer than a newcomer's startup
	// overshoot takes to drain. An average rather than an unbroken run,
	// because real delay readings carry outliers and a BBR flow lets its
	// queue dip now and then.
	CompeteAfter = 2 * time.Second
	CompeteShare = 0.6
	// CompeteDrained is the time constant (at least two reference delays)
	// over which the share of time the queue spends below half the
	// threshold is averaged; Compete ends when that share reaches
	// DrainedShare, 1.6 s into a drained queue: far longer than the moments
	// a BBR flow empties its own queue to re-measure its round trip (200 ms
	// plus a round trip, every 10 s).
	CompeteDrained = time.Second
	DrainedShare   = 0.8
	// AloneShare is the share of TargetRate a flow's goodput must have
	// reached for the first slowdown to be skipped (see steadyNext): a
	// flow sharing the path with another gets about half at most.
	AloneShare = 0.8
	// CapacityMemory is the time constant over which the capacity estimate
	// (the best goodput seen) fades outside Compete, so that it follows
	// the share left by other delay-based flows and a slower path.
	CapacityMemory = 60 * time.Second
)

// Config is the rate policy and the caps, all rates in bits/s.
type Config struct {
	Policy     Policy
	TargetRate float64 // 0 = unlimited (use MaxRate)
	MinRate    float64 // floor
	MaxRate    float64 // hard cap (bandwidth cap / server cap); 0 = none
	// Share is the part of one transfer this controller's flow is, in
	// (0, 1]; 0 (or anything out of range) means 1, a flow of its own.
	// A transfer split over N sessions (sessions: N) gives each 1/N: the
	// queue budget scales by it, so the N controllers together keep the
	// queue one flow keeps, and take one flow's share next to other
	// traffic. The rates above are this flow's own, already split.
	Share float64
}

// Feedback is what the receiver reports about every 10 ms.
type Feedback struct {
	RecvRate float64 // receiver goodput over the interval, bits/s
	Received int     // packets received in the interval
	Lost     int     // packets detected missing in the interval
	// MinOWD and MeanOWD summarise the interval's one-way delay samples:
	// receiver clock minus sender timestamp. The clocks are not
	// synchronised, so only differences against the smallest OWD ever seen
	// (the base delay) mean anything: queueing delay = OWD - baseOWD.
	MinOWD, MeanOWD time.Duration
	// RTT is optional, filled in by the sender: its smoothed round-trip
	// estimate. Zero means unknown and DefaultRTT is assumed.
	RTT time.Duration
}

// Phase is where the controller is in its cycle.
type Phase string

const (
	// Startup doubles the rate every reference delay until a queue appears.
	Startup Phase = "startup"
	// Drain sends below the measured bottleneck share until the queue that
	// startup's overshoot left behind is gone.
	Drain Phase = "drain"
	// Steady runs the delay law.
	Steady Phase = "steady"
	// Compete runs while a flow that only backs off on loss (a loss-based
	// TCP) keeps the queue from draining: the delay law would leave such a
	// flow nearly the whole link, so the rate is steered instead to a share
	// of the estimated capacity (half for Fair, two thirds for High). It
	// ends when the queue drains, which a flow holding only its share cannot
	// prevent alone. Low never competes.
	Compete Phase = "compete"
	// Probe grows the rate gently after the queue stayed empty for a while:
	// capacity was freed (another flow left, a cap was lifted).
	Probe Phase = "probe"
	// Slowdown briefly cuts the rate to a quarter so the queue can empty and
	// the base delay be re-measured. A flow that starts while others hold a
	// standing queue takes that queue for part of its base delay and would
	// otherwise keep more than its share for good (FAST's and LEDBAT's
	// latecomer problem). It runs once after startup unless an empty queue
	// was seen anyway, and again whenever none has been seen for
	// SlowdownEvery.
	Slowdown Phase = "slowdown"
)

// Stats is the controller's state for monitoring.
type Stats struct {
	Rate       float64 // bits/s
	RecvRate   float64 // last reported goodput, bits/s
	BaseOWD    time.Duration
	QueueDelay time.Duration
	Policy     Policy
	Phase      Phase
	Capacity   float64 // estimated bottleneck capacity, bits/s
	Share      float64 // the part of its transfer this flow is (Config.Share; 1 when unset)
}

// Controller turns receiver feedback into a sending rate. It is not safe
// for concurrent use: one goroutine (a data sender's loop) owns it, and caps
// changed from outside reach it through that loop.
type Controller struct {
	clk Clock
	cfg Config

	rate float64 // bits/s
	// win is the FAST window in bits the rate is derived from:
	// rate = win / (ref + q). Dividing by the measured delay makes the rate
	// fall the moment the queue grows, the way ack clocking does for a
	// window protocol; that immediate term is what keeps a rate-based loop
	// stable when its feedback is a round trip old.
	win float64

	base      time.Duration
	haveBase  bool
	q         time.Duration // latest queueing delay
	prevQ     time.Duration
	rtt       time.Duration // latest hint, 0 if none
	minRTT    time.Duration // smallest hint seen, 0 if none
	recv      [4]float64    // latest goodput reports, newest first
	bw        float64       // bottleneck share measured when startup ended
	drainPeak time.Duration // highest queue seen while draining
	lastEmpty time.Time     // last time the queue was seen (nearly) empty
	saved     float64       // rate to return to after a slowdown
	slowAfter time.Duration // how long without an empty queue before slowing down
	firstSlow time.Time     // when the first slowdown after startup is due
	flat      int           // slowdown: intervals since the queue last shrank
	slowMin   time.Duration // slowdown: lowest OWD seen
	improved  bool          // slowdown: the OWD has fallen since it began

	last     time.Time
	haveLast bool
	interval time.Duration // smoothed time between feedback reports

	phase    Phase
	phaseFor time.Duration // time spent in the current phase
	emptyFor time.Duration // how long the queue has stayed well below equilibrium
	starved  int           // consecutive intervals of goodput far below rate with a growing queue
	over     int           // startup and probe: consecutive readings above the queue mark

	recvAvg  float64 // goodput smoothed over about a reference delay
	capEst   float64 // bottleneck capacity estimate: best smoothed goodput, fading
	highFrac float64 // time-weighted share of recent readings above competeQ
	lowFrac  float64 // time-weighted share of recent readings below competeQ/2

	// allow scales the jitter allowance (1 in full; halved by each
	// overflow, regrowing over AllowanceRecover); lossAvg is the share of
	// packets lost, averaged over OverflowMemory; overflowAt is when the
	// last overflow cut the rate.
	allow      float64
	lossAvg    float64
	lossFor    time.Duration // how long lossAvg has averaged
	overflowAt time.Time
}

// NewController returns a controller that starts ramping from half the
// target rate when one is set (the user has said what the path carries, so
// one doubling reaches it), else from a quarter of its cap (at most
// InitialRate). Low always starts from the lower figure: it must not
// disturb anyone even for its first round trip.
func NewController(cfg Config, clk Clock) *Controller {
	c := &Controller{clk: clk, cfg: cfg, interval: 10 * time.Millisecond, allow: 1}
	lo, hi := c.bounds()
	start := math.Min(hi/4, InitialRate)
	if cfg.TargetRate > 0 && c.policy() != Low {
		start = hi / 2
	}
	c.rate = clamp(start, lo, hi)
	if c.policy() == Fixed {
		c.rate = hi
	}
	c.phase = Startup
	c.win = c.rate * c.ref().Seconds()
	return c
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func clamp(x, lo, hi float64) float64 {
	if x < lo {
		x = lo
	}
	if x > hi {
		x = hi
	}
	return x
}

// policy resolves the configured policy; anything unknown is Fair, and Fixed
// without any rate to hold is Fair too, because blasting at CeilingRate is
// never what someone meant.
func (c *Controller) policy() Policy {
	switch p := c.cfg.Policy; p {
	case Fixed:
		if c.cfg.TargetRate <= 0 && c.cfg.MaxRate <= 0 {
			return Fair
		}
		return p
	case High, Low:
		return p
	}
	return Fair
}

// bounds is the range the rate must stay in. A hard cap below MinRate wins:
// the cap is what the operator or the server asked for.
func (c *Controller) bounds() (lo, hi float64) {
	hi = CeilingRate
	if t := c.cfg.TargetRate; t > 0 && t < hi {
		hi = t
	}
	if m := c.cfg.MaxRate; m > 0 && m < hi {
		hi = m
	}
	lo = math.Max(c.cfg.MinRate, FloorRate)
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// ref is the reference delay the window is spread over: twice the loop
// delay (round trip plus the feedback interval the receiver averages over),
// which gives the loop about 60° of phase margin.
func (c *Controller) ref() time.Duration {
	r := c.rtt
	if r <= 0 {
		r = DefaultRTT
	}
	return 2 * (max(r, MinRTT) + c.interval)
}

// jitter is the part of every queueing-delay reading taken for host
// jitter (see JitterMax), as far as overflows have left it (allow).
func (c *Controller) jitter() time.Duration {
	return time.Duration(c.allow * float64(c.shortPath()))
}

// shortPath is the full jitter allowance of the path: positive on a
// short path, zero on a long one or until a round trip is known.
func (c *Controller) shortPath() time.Duration {
	r := c.minRTT
	if r <= 0 || r >= 2*ShortRTT {
		return 0
	}
	j := min(JitterMax, time.Duration(JitterShare*float64(r)))
	if r > ShortRTT {
		j = time.Duration(float64(j) * float64(2*ShortRTT-r) / float64(ShortRTT))
	}
	return j
}

// overflowed reports whether this reading shows the queue overflowing
// on a short path (see OverflowLoss), and keeps the loss average and
// the allowance's recovery. One overflow per reference delay at most:
// the loss of a cut's own round trip is the overflow already answered.
func (c *Controller) overflowed(rd reading) bool {
	c.allow = min(1, c.allow+rd.dtS/AllowanceRecover.Seconds())
	n := rd.f.Received + rd.f.Lost
	if n <= 0 {
		return false
	}
	share := float64(rd.f.Lost) / float64(n)
	// Until OverflowMemory has passed, the average is over every reading
	// so far, so that a path lossy from its first packet has its usual
	// share known from the start; the first reading sets it.
	first, avg := c.lossFor == 0, c.lossAvg
	c.lossFor += rd.dt
	k := math.Max(rd.dtS/c.lossFor.Seconds(), 1-math.Exp(-rd.dtS/OverflowMemory.Seconds()))
	c.lossAvg += (share - c.lossAvg) * k
	if first || rd.policy == Low || c.shortPath() == 0 || share < OverflowLoss || share < 2*avg {
		return false
	}
	if !c.overflowAt.IsZero() && rd.now.Sub(c.overflowAt) < rd.ref {
		return false
	}
	c.overflowAt = rd.now
	c.allow /= 2
	return true
}

// onOverflow cuts the rate to what arrives (this flow's share of the
// bottleneck), so the queue drains; a ramp ends as it does on a queue.
func (c *Controller) onOverflow(rd reading) float64 {
	bw := c.recvMax()
	if bw <= 0 || bw > c.rate {
		bw = c.rate
	}
	rate := bw
	switch c.phase {
	case Startup, Probe:
		c.bw = bw
		c.enter(Drain)
	case Slowdown:
		c.saved = math.Min(c.saved, bw)
		rate = c.rate
	}
	return rate
}

// alpha is this flow's queue budget in bits: its policy's, times its
// part of the transfer (Config.Share).
func (c *Controller) alpha() float64 {
	w := c.weight()
	switch c.policy() {
	case High:
		return 2 * Alpha * w
	case Low:
		// A scavenger's budget also stays below half its target delay, or at
		// low rates its own equilibrium queue would trip its retreat.
		return math.Min(Alpha/10*w, c.rate*LowTargetDelay.Seconds()/2)
	}
	return Alpha * w
}

// weight is Config.Share, 1 when unset or out of range.
func (c *Controller) weight() float64 {
	if w := c.cfg.Share; w > 0 && w <= 1 {
		return w
	}
	return 1
}

// recvMax is the best recent goodput: a few intervals smooth out packet
// granularity and random loss.
func (c *Controller) recvMax() float64 {
	m := 0.0
	for _, r := range c.recv {
		m = math.Max(m, r)
	}
	return m
}

// competeQ is the queueing delay above which a standing queue is taken for
// a buffer-filling flow's: several times what this flow alone would keep
// at the capacity estimate.
func (c *Controller) competeQ() time.Duration {
	q := CompeteMinDelay
	if c.capEst > 0 {
		q = max(q, time.Duration(CompeteQueue*c.alpha()/c.capEst*float64(time.Second)))
	}
	return q
}

// share is the part of the capacity the flow aims for in Compete.
func (c *Controller) share() float64 {
	if c.policy() == High {
		return 2.0 / 3
	}
	return 0.5
}

func (c *Controller) enter(p Phase) {
	c.phase, c.phaseFor, c.emptyFor, c.drainPeak, c.over = p, 0, 0, 0, 0
}

// reading is one feedback report as the phase functions see it: its
// time, the step since the last one, and the delays in seconds.
type reading struct {
	f      Feedback
	now    time.Time
	dt     time.Duration
	ref    time.Duration
	refS   float64 // reference delay
	qS     float64 // queueing delay less the jitter allowance
	rawQS  float64 // queueing delay as read
	dtS    float64 // step
	alpha  float64 // queue budget, bits
	qEq    float64 // the queue this flow would hold at equilibrium, s
	policy Policy
}

// OnFeedback folds one receiver report into the rate: the estimates
// first, then the current phase's rule, which may move to another phase.
func (c *Controller) OnFeedback(f Feedback) {
	rd, ok := c.observe(f)
	if !ok {
		return
	}
	lo, hi := c.bounds()
	if rd.policy == Fixed {
		c.rate = hi
		return
	}
	c.estimate(&rd)
	var rate float64
	switch {
	case c.overflowed(rd):
		rate = c.onOverflow(rd)
	case c.phase == Startup, c.phase == Probe:
		rate = c.ramp(rd)
	case c.phase == Drain:
		rate = c.drain(rd)
	case c.phase == Slowdown:
		rate = c.slowdown(rd)
	case c.phase == Compete:
		rate = c.compete(rd)
	case c.phase == Steady:
		rate = c.steady(rd)
	default:
		rate = c.rate
	}
	c.rate = clamp(rate, lo, hi)
	// Anti-windup: the window follows the clamped rate, so a cap that lifts
	// later does not release a stored-up jump.
	c.win = c.rate * (rd.refS + rd.qS)
}

// observe takes the report's timing, round-trip hint and goodput, and its
// queueing delay when it carries delay samples (ok); without them there
// is nothing to learn about the queue.
func (c *Controller) observe(f Feedback) (reading, bool) {
	now := c.clk.Now()
	if f.RTT > 0 {
		c.rtt = f.RTT
		if c.minRTT == 0 || f.RTT < c.minRTT {
			c.minRTT = f.RTT
		}
	}
	dt := c.interval
	if c.haveLast {
		dt = now.Sub(c.last)
	}
	c.last, c.haveLast = now, true
	// A long gap (the sender was idle, or feedback was lost) must not be
	// read as one huge step.
	dt = min(max(dt, time.Millisecond), c.ref()/2)
	c.interval += (dt - c.interval) / 8
	ref := c.ref()
	copy(c.recv[1:], c.recv[:len(c.recv)-1])
	c.recv[0] = f.RecvRate

	if f.Received <= 0 {
		return reading{}, false
	}
	if !c.haveBase || f.MinOWD < c.base {
		c.base, c.haveBase = f.MinOWD, true
	}
	c.prevQ, c.q = c.q, f.MinOWD-c.base
	return reading{f: f, now: now, dt: dt, ref: ref, policy: c.policy()}, true
}

// estimate updates what every phase reads: time in phase, smoothed
// goodput, the capacity estimate, how long the queue has stood above and
// below the competition mark, and when it was last (nearly) empty.
func (c *Controller) estimate(rd *reading) {
	c.phaseFor += rd.dt
	rd.refS, rd.dtS = rd.ref.Seconds(), rd.dt.Seconds()
	rd.rawQS, rd.qS = c.q.Seconds(), max(c.q-c.jitter(), 0).Seconds()
	c.recvAvg += (rd.f.RecvRate - c.recvAvg) * (1 - math.Exp(-rd.dtS/rd.refS))
	if c.phase != Compete {
		// Frozen while competing: the goodput is then only the share aimed
		// for, and letting the estimate follow it would shrink it for good.
		c.capEst = math.Max(c.capEst*math.Exp(-rd.dtS/CapacityMemory.Seconds()), c.recvAvg)
	}
	competeQ := c.competeQ()
	c.highFrac += (b2f(c.q > competeQ) - c.highFrac) * (1 - math.Exp(-rd.dtS/max(CompeteAfter, 4*rd.ref).Seconds()))
	c.lowFrac += (b2f(c.q < competeQ/2) - c.lowFrac) * (1 - math.Exp(-rd.dtS/max(CompeteDrained, 2*rd.ref).Seconds()))
	rd.alpha = c.alpha()
	rd.qEq = rd.alpha / c.rate
	// Emptiness is judged on the delay as read: the jitter allowance hides
	// a real queue of up to JitterMax, and a flow that took that for room
	// would probe into a full link over and over.
	if rd.rawQS <= rd.qEq/8 {
		c.lastEmpty = rd.now
	}
}

// ramp is Startup and Probe: grow the rate until a queue shows on two
// readings in a row, then fall back to the goodput (Drain first if
// startup overshot).
func (c *Controller) ramp(rd reading) float64 {
	rate := c.rate
	// One reading over the mark may be host jitter rather than a queue
	// (wanem, a busy receiver): ending the ramp on it drops the rate
	// to a goodput that still lags the ramp by a round trip. A real
	// queue shows on the next reading too, 10 ms later.
	q := rd.qS
	if c.phase == Probe {
		// A probe starts from a queue read as empty, so the first
		// readings over the mark end it, jitter allowance or not: the
		// allowance would hide the queue it builds for several more.
		q = rd.rawQS
	}
	over := q >= rd.qEq/2
	if over && c.phase == Startup && c.shortPath() > 0 && c.recv[0] > 1.15*c.recv[2] {
		// On a short path the goodput answers the ramp within a couple
		// of readings: while it still grows (×1.4 per two readings at
		// 10 ms) no bottleneck has been reached, and readings over the
		// mark are the host's jitter. A real queue flattens it.
		over = false
	}
	if over {
		c.over++
	} else {
		c.over = 0
	}
	if c.over < 2 {
		growth := 1.25 // gentle: the link was full not long ago
		if c.phase == Startup || rate < 0.8*c.capEst {
			// Startup, or far below a goodput this flow reached not long
			// ago with the queue now empty: what cut the rate has gone
			// (or was a false alarm), so win the room back as fast as
			// startup would. Flows sharing the link keep a queue, so
			// this does not fire while the room is theirs.
			growth = 2
		}
		return rate * math.Pow(growth, rd.dtS/rd.refS)
	}
	// The queue showed up a round trip after the rate passed the
	// bottleneck, so everything sent above it since is still on its
	// way into the queue. What arrives now is our share of the
	// bottleneck: go back to it, below it if the overshoot was large.
	bw := c.recvMax()
	if bw <= 0 || bw > rate {
		bw = rate
	}
	if c.phase == Startup && rate > 1.1*bw {
		c.bw = bw
		c.enter(Drain)
		return DrainGain * bw
	}
	c.enter(Steady)
	return bw
}

// drain sends below the bottleneck share measured at the end of startup
// until the overshoot's queue has peaked and fallen back.
func (c *Controller) drain(rd reading) float64 {
	// The overshoot reaches the queue over the next round trip: wait for
	// the queue to peak and fall back before handing over.
	c.drainPeak = max(c.drainPeak, c.q)
	falling := c.q < c.drainPeak || c.phaseFor >= rd.ref
	if (falling && rd.qS <= rd.alpha/c.bw) || c.phaseFor >= 4*rd.ref {
		c.enter(Steady)
		return c.bw
	}
	return DrainGain * c.bw
}

// slowdown holds a quarter of the saved rate until the queue stops
// shrinking (it is empty, or the others refill it as fast as it drains);
// if it never starts to shrink within two loop delays there was no queue
// to drain.
func (c *Controller) slowdown(rd reading) float64 {
	switch {
	case c.phaseFor <= rd.dt:
		c.slowMin, c.flat, c.improved = rd.f.MinOWD, 0, false
	case rd.f.MinOWD < c.slowMin:
		c.slowMin, c.flat, c.improved = rd.f.MinOWD, 0, true
	default:
		c.flat++
	}
	if (c.improved && c.flat >= 3) || (!c.improved && c.phaseFor >= rd.ref) || c.phaseFor >= 2*rd.ref {
		c.enter(Steady)
		c.lastEmpty = rd.now
		return c.saved
	}
	return c.saved / 4
}

// compete steers the rate to the flow's share of the capacity estimate
// until the queue drains for good.
func (c *Controller) compete(rd reading) float64 {
	if c.lowFrac >= DrainedShare {
		// The queue drained for good: whoever held it has gone (or was
		// one of us after all). Back to the delay law, which finds the
		// room left.
		c.enter(Steady)
		c.lastEmpty, c.highFrac = rd.now, 0
		return c.rate
	}
	g := 1 - math.Pow(1-Gamma, rd.dtS/rd.refS)
	return c.rate + g*(c.share()*c.capEst-c.rate)
}

// steady runs the delay law, then decides whether to leave for Probe,
// Compete or Slowdown.
func (c *Controller) steady(rd reading) float64 {
	rate := c.delayLaw(rd)
	c.steadyNext(rd, rate)
	return rate
}

// delayLaw is FAST's window update, Low's retreat, and a guard against a
// sender blind to congestion its delay samples do not show.
func (c *Controller) delayLaw(rd reading) float64 {
	refS, qS, dtS := rd.refS, rd.qS, rd.dtS
	g := 1 - math.Pow(1-Gamma, dtS/refS)
	c.win += g * (rd.alpha - c.win*qS/(refS+qS))
	if rd.policy == Low && c.q > LowTargetDelay {
		// Someone else is filling the queue: retreat, halving per
		// reference delay, down to MinRate.
		c.win *= math.Exp2(-dtS / refS)
	}
	rate := c.win / (refS + qS)

	// Guard against a blind sender: delay samples that do not show the
	// congestion (a policer, a queue that only drops) would leave the
	// rate far above what arrives. Only when the queue is also growing,
	// so that plain random loss never triggers it.
	if rd.f.RecvRate > 0 && rd.f.RecvRate < rate/2 && qS > rd.qEq && c.q >= c.prevQ {
		c.starved++
	} else {
		c.starved = 0
	}
	if c.starved >= 3 {
		rate = (rate + rd.f.RecvRate) / 2
	}
	return rate
}

// steadyNext moves from Steady to Probe after the queue stayed empty,
// to Compete while a buffer-filling flow holds it, and to Slowdown when
// no empty queue was seen for a while (rate is what it would leave).
func (c *Controller) steadyNext(rd reading, rate float64) {
	if rd.rawQS < rd.qEq/4 {
		c.emptyFor += rd.dt
		if c.emptyFor >= 2*rd.ref {
			c.enter(Probe)
		}
	} else {
		// A reading above the mark takes back twice its time rather
		// than starting over: on a real link (wanem, a busy host) one
		// reading in ten is jitter of a few milliseconds, which reset
		// the count every time and left a flow cut by a false alarm
		// creeping back at Alpha per reference delay for many seconds.
		// A standing queue still empties the count within a few
		// readings.
		c.emptyFor = max(0, c.emptyFor-2*rd.dt)
	}
	if c.slowAfter == 0 {
		// First time in Steady: the base delay may include a queue
		// that was standing when this flow started, and then even an
		// "empty" reading proves nothing, so this one is unconditional.
		c.slowAfter, c.firstSlow = SlowdownEvery, rd.now.Add(2*rd.ref)
	}
	due := rd.now.Sub(c.lastEmpty) >= c.slowAfter
	if !c.firstSlow.IsZero() && !rd.now.Before(c.firstSlow) {
		// Unless this flow alone got what the user says the path
		// carries: then nobody else held a queue it could have taken
		// for its base delay, and the cut would only cost time. Judged
		// on the best goodput since the start (the capacity estimate),
		// not the goodput of this moment: a loss burst or a stalled
		// host just before it fell due read as a shared link, and the
		// cut cost wan-100 small 0.2 s of a quarter rate. 80 %, because
		// what arrives of a full path is short of the target by the
		// path's own loss and the packets' IP headers (97 % on
		// wan-100), and the smoothed figure lags the ramp.
		due = c.cfg.TargetRate <= 0 || c.capEst < AloneShare*c.cfg.TargetRate
		c.firstSlow = time.Time{}
	}
	switch {
	case c.phase == Steady && rd.policy != Low && c.highFrac >= CompeteShare:
		c.enter(Compete)
		c.lowFrac = 0
	case c.phase == Steady && due:
		c.enter(Slowdown)
		c.saved = rate
	}
}

// Rate is the current sending rate in bits/s, always within the configured
// bounds.
func (c *Controller) Rate() float64 {
	return c.rate
}

// SetConfig changes policy and caps; the next Rate reflects them. A cap that
// was holding the rate down and is raised restarts the ramp, so the new room
// is found within a few round trips.
func (c *Controller) SetConfig(cfg Config) {
	_, oldHi := c.bounds()
	c.cfg = cfg
	lo, hi := c.bounds()
	if c.policy() == Fixed {
		c.rate = hi
	} else if hi > oldHi && c.rate >= oldHi*0.95 && c.phase == Steady {
		c.enter(Probe)
	}
	c.rate = clamp(c.rate, lo, hi)
	c.win = c.rate * (c.ref().Seconds() + c.q.Seconds())
}

// Stats reports the controller's state.
func (c *Controller) Stats() Stats {
	return Stats{
		Rate:       c.rate,
		RecvRate:   c.recv[0],
		BaseOWD:    c.base,
		QueueDelay: c.q,
		Policy:     c.policy(),
		Phase:      c.phase,
		Capacity:   c.capEst,
		Share:      c.weight(),
	}
}
