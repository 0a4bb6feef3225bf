package cc

import (
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("cc.seed", 0, "seed for randomised rate-control tests (0: from FERRY_SEED or the time)")

// testSeed returns the seed for a randomised test and logs it so a failure
// can be replayed with -cc.seed.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	s := *seedFlag
	if s == 0 {
		if v, err := strconv.ParseUint(os.Getenv("FERRY_SEED"), 10, 64); err == nil {
			s = v
		}
	}
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -cc.seed=%d)", s, s)
	return s
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock               { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

const (
	simTick     = time.Millisecond
	simInterval = 10 * time.Millisecond
	simPacket   = 12000.0 // bits
)

// simFlow is one sender/receiver pair crossing the simulated bottleneck:
// a Controller, a loss-based TCP (tcp), or a constant-rate source.
type simFlow struct {
	ctl         *Controller
	tcp         *simTCP
	cbr         float64
	start, stop time.Duration // active while start <= now < stop (stop 0: forever)
	offset      time.Duration // receiver clock minus sender clock
	loss        float64       // random loss on delivery
	hintRTT     bool          // pass the true RTT in Feedback.RTT
	// outliers is the share of intervals whose MinOWD reads as an empty
	// queue whatever the queue holds, the way a real receiver's readings
	// carry outliers.
	outliers float64
	// jitter is the share of intervals whose delay readings carry an extra
	// jitterLo..jitterHi (uniform) that no queue explains, the way a busy
	// host or a user-space link emulator delays a whole interval's packets.
	jitter             float64
	jitterLo, jitterHi time.Duration

	// receiver's current interval
	recvBits       float64
	recvPkts, lost int
	pktAcc         float64
	dropAcc        float64 // tail-dropped packets not yet counted whole
	minOWD         time.Duration
	owdSum, owdW   float64
	pending        []pendingFB

	// measurement window totals
	sent, delivered float64
	minRate         float64
	maxRate         float64
}

type pendingFB struct {
	due time.Duration
	fb  Feedback
}

type chunk struct {
	at   time.Duration
	bits []float64
}

// sim is a deterministic fluid model of one drop-tail bottleneck: every
// millisecond each flow puts rate×1 ms into a FIFO that drains at C; the
// receivers sample the one-way delay (propagation + time in the FIFO +
// their clock offset) and every 10 ms send Feedback that reaches the sender
// a return trip later.
type sim struct {
	C        float64 // bits/s
	buf      float64 // drop-tail capacity, bits
	fwd, rev time.Duration
	clk      *fakeClock
	rng      *rand.Rand
	flows    []*simFlow

	now      time.Duration
	queue    []chunk
	qbits    float64
	from     time.Duration // measurement window start
	maxQ     float64       // bits, within the window
	sumQ     float64
	nQ       int
	tailDrop float64 // bits dropped by the full queue within the window
	sentWin  float64 // bits all flows sent within the window

	// stall is the chance per tick that the bottleneck stops forwarding
	// for stallLo..stallHi (uniform), the way a user-space link emulator
	// or a busy receiving host does when it is descheduled; the queue
	// fills meanwhile and overflows if the stall outlasts its room.
	stall            float64
	stallLo, stallHi time.Duration
	stalledUntil     time.Duration
}

func newSim(C float64, buf float64, fwd, rev time.Duration, seed uint64) *sim {
	return &sim{C: C, buf: buf, fwd: fwd, rev: rev, clk: newFakeClock(), rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (s *sim) add(f *simFlow) *simFlow {
	f.minRate = math.Inf(1)
	s.flows = append(s.flows, f)
	return f
}

func (f *simFlow) active(now time.Duration) bool {
	return now >= f.start && (f.stop == 0 || now < f.stop)
}

func (f *simFlow) rate(s *sim) float64 {
	switch {
	case f.ctl != nil:
		return f.ctl.Rate()
	case f.tcp != nil:
		return f.tcp.rate(s)
	}
	return f.cbr
}

// simTCP is a fluid model of a loss-based TCP sender: an ack-clocked window
// (rate = cwnd / current round trip) that slow-starts, then grows like
// CUBIC (cubic set) or Reno (+1 MSS per round trip), and cuts once per round
// trip when the drop-tail queue overflows, a round trip after the drop.
type simTCP struct {
	cubic bool
	// probeRTT makes it drain its own queue for 200 ms every 10 s the way
	// BBR re-measures its base delay, which empties the bottleneck for a
	// moment unless others hold a queue.
	probeRTT  bool
	nextProbe time.Duration
	probeEnd  time.Duration

	cwnd     float64 // bits
	ssthresh float64
	wmax     float64 // CUBIC: window before the last cut, bits
	epoch    time.Duration
	lossAt   time.Duration // when the sender learns of the pending drop (0: none)
	recovery time.Duration // no further cut before this
}

const (
	simMSS      = 12000.0 // bits
	cubicC      = 0.4     // MSS/s³
	cubicBeta   = 0.7
	renoBeta    = 0.5
	tcpInitWind = 10 * simMSS
)

func newTCP(cubic bool) *simTCP {
	return &simTCP{cubic: cubic, cwnd: tcpInitWind, ssthresh: math.Inf(1)}
}

func (t *simTCP) rtt(s *sim) time.Duration {
	return s.fwd + s.rev + time.Duration(s.qbits/s.C*float64(time.Second))
}

func (t *simTCP) rate(s *sim) float64 {
	if t.probeRTT && s.now < t.probeEnd {
		return 4 * simMSS / t.rtt(s).Seconds()
	}
	return t.cwnd / t.rtt(s).Seconds()
}

// dropped notes a tail drop of this flow's data: the sender hears of it
// from duplicate acks about a round trip later.
func (t *simTCP) dropped(s *sim) {
	if t.lossAt == 0 && s.now >= t.recovery {
		t.lossAt = s.now + t.rtt(s)
	}
}

// tick grows or cuts the window by what happened in one step of dt.
func (t *simTCP) tick(s *sim, dt float64) {
	if t.probeRTT {
		if t.nextProbe == 0 {
			t.nextProbe = s.now + 10*time.Second
		}
		if s.now >= t.nextProbe {
			t.probeEnd, t.nextProbe = s.now+200*time.Millisecond+s.fwd+s.rev, s.now+10*time.Second
		}
		if s.now < t.probeEnd {
			return
		}
	}
	if t.lossAt != 0 && s.now >= t.lossAt {
		beta := renoBeta
		if t.cubic {
			beta = cubicBeta
		}
		if t.cubic && t.cwnd < t.wmax {
			// Fast convergence: release room for a newcomer.
			t.wmax = t.cwnd * (1 + cubicBeta) / 2
		} else {
			t.wmax = t.cwnd
		}
		t.cwnd = math.Max(t.cwnd*beta, 2*simMSS)
		t.ssthresh = t.cwnd
		t.epoch = s.now
		t.lossAt, t.recovery = 0, s.now+t.rtt(s)
		return
	}
	acked := t.rate(s) * dt
	switch {
	case t.cwnd < t.ssthresh:
		t.cwnd += acked
	case t.cubic:
		k := math.Cbrt(t.wmax / simMSS * (1 - cubicBeta) / cubicC)
		e := (s.now - t.epoch).Seconds() - k
		target := (cubicC*e*e*e + t.wmax/simMSS) * simMSS
		// Linux caps the growth at half the window per round trip.
		if target > t.cwnd {
			t.cwnd = math.Min(target, t.cwnd+acked/2)
		}
	default:
		t.cwnd += simMSS * acked / t.cwnd
	}
}

// measureFrom resets the measurement window.
func (s *sim) measureFrom() {
	s.from = s.now
	s.maxQ, s.sumQ, s.nQ, s.tailDrop, s.sentWin = 0, 0, 0, 0, 0
	for _, f := range s.flows {
		f.sent, f.delivered = 0, 0
		f.minRate, f.maxRate = math.Inf(1), 0
	}
}

func (s *sim) run(d time.Duration) {
	for end := s.now + d; s.now < end; {
		s.step()
	}
}

func (s *sim) step() {
	s.now += simTick
	s.clk.advance(simTick)
	dt := simTick.Seconds()

	for _, f := range s.flows {
		for len(f.pending) > 0 && f.pending[0].due <= s.now {
			if f.ctl != nil {
				f.ctl.OnFeedback(f.pending[0].fb)
			}
			f.pending = f.pending[1:]
		}
	}

	in := make([]float64, len(s.flows))
	total := 0.0
	for i, f := range s.flows {
		if !f.active(s.now) {
			continue
		}
		if f.tcp != nil {
			f.tcp.tick(s, dt)
		}
		r := f.rate(s)
		f.minRate, f.maxRate = math.Min(f.minRate, r), math.Max(f.maxRate, r)
		in[i] = r * dt
		f.sent += in[i]
		s.sentWin += in[i]
		total += in[i]
	}
	if room := s.buf - s.qbits; total > room {
		keep := math.Max(room, 0) / total
		for i, f := range s.flows {
			drop := in[i] * (1 - keep)
			in[i] -= drop
			// Whole packets only, carrying the rest: truncating each
			// tick's drop lost most of a slow flow's losses (a quarter
			// of the link dropping a packet's worth every few ticks
			// reported none), so its controller never saw an overflow.
			f.dropAcc += drop / simPacket
			f.lost += int(f.dropAcc)
			f.dropAcc -= math.Floor(f.dropAcc)
			s.tailDrop += drop
			if f.tcp != nil && drop > 0 {
				f.tcp.dropped(s)
			}
		}
		total = math.Max(room, 0)
	}
	if total > 0 {
		s.queue = append(s.queue, chunk{at: s.now, bits: in})
		s.qbits += total
	}

	capacity := s.C * dt
	if s.stall > 0 && s.now >= s.stalledUntil && s.rng.Float64() < s.stall {
		s.stalledUntil = s.now + s.stallLo + time.Duration(s.rng.Int64N(int64(s.stallHi-s.stallLo)+1))
	}
	if s.now < s.stalledUntil {
		capacity = 0
	}
	for capacity > 0 && len(s.queue) > 0 {
		h := &s.queue[0]
		sum := 0.0
		for _, b := range h.bits {
			sum += b
		}
		frac := 1.0
		if sum > capacity {
			frac = capacity / sum
		}
		owd := s.now - h.at + s.fwd
		for i, b := range h.bits {
			if b <= 0 {
				continue
			}
			s.deliver(s.flows[i], b*frac, owd)
			h.bits[i] = b * (1 - frac)
		}
		moved := sum * frac
		s.qbits -= moved
		if frac < 1 {
			break // this tick's capacity is used up inside the head chunk
		}
		capacity -= moved
		s.queue = s.queue[1:]
	}
	if s.qbits < 1e-6 {
		s.qbits = 0
	}
	s.maxQ = math.Max(s.maxQ, s.qbits)
	s.sumQ += s.qbits
	s.nQ++

	if s.now%simInterval == 0 {
		for _, f := range s.flows {
			fb := Feedback{
				RecvRate: f.recvBits / simInterval.Seconds(),
				Received: f.recvPkts,
				Lost:     f.lost,
			}
			if f.recvPkts > 0 {
				fb.MinOWD = f.minOWD
				fb.MeanOWD = time.Duration(f.owdSum / f.owdW)
				if f.outliers > 0 && s.rng.Float64() < f.outliers {
					fb.MinOWD = s.fwd + f.offset
				}
				if f.jitter > 0 && s.rng.Float64() < f.jitter {
					j := f.jitterLo + time.Duration(s.rng.Int64N(int64(f.jitterHi-f.jitterLo)+1))
					fb.MinOWD += j
					fb.MeanOWD += j
				}
			}
			if f.hintRTT {
				fb.RTT = s.fwd + s.rev
			}
			f.pending = append(f.pending, pendingFB{due: s.now + s.fwd + s.rev, fb: fb})
			f.recvBits, f.recvPkts, f.lost, f.owdSum, f.owdW = 0, 0, 0, 0, 0
		}
	}
}

func (s *sim) deliver(f *simFlow, bits float64, owd time.Duration) {
	owd += f.offset
	if f.owdW == 0 || owd < f.minOWD {
		f.minOWD = owd
	}
	f.owdSum += float64(owd) * bits
	f.owdW += bits
	f.pktAcc += bits / simPacket
	for f.pktAcc >= 1 {
		f.pktAcc--
		if f.loss > 0 && s.rng.Float64() < f.loss {
			f.lost++
			continue
		}
		f.recvPkts++
		f.recvBits += simPacket
		f.delivered += simPacket
	}
}

func (s *sim) window() float64 { return (s.now - s.from).Seconds() }

// throughput is the flow's goodput over the measurement window.
func (s *sim) throughput(f *simFlow) float64 { return f.delivered / s.window() }

// sendRate is the flow's mean sending rate over the measurement window.
func (s *sim) sendRate(f *simFlow) float64 { return f.sent / s.window() }

func (s *sim) meanQueueDelay() time.Duration {
	return time.Duration(s.sumQ / float64(s.nQ) / s.C * float64(time.Second))
}

func (s *sim) maxQueueDelay() time.Duration {
	return time.Duration(s.maxQ / s.C * float64(time.Second))
}
