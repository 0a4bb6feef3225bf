package data

import (
	"flag"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/transport/wire"
)

// ackClock is the tests' clock: time moves only when a test moves it.
type ackClock struct{ t time.Time }

func (c *ackClock) Now() time.Time           { return c.t }
func (c *ackClock) advance(d time.Duration)  { c.t = c.t.Add(d) }
func newAckClock() *ackClock                 { return &ackClock{t: time.Unix(1000, 0)} }
func ackOf(rs ...wire.Range) wire.Feedback   { return wire.Feedback{Ranges: rs} }
func rng(lo, hi uint64) wire.Range           { return wire.Range{Lo: lo, Hi: hi} }
func dataPkt(at time.Time, f *sfile) sentPkt { return sentPkt{at: at, f: f, size: 1000, n: 950} }

// pktNumbers gives the packets' numbers, which the tests store in off.
func pktNumbers(ps []sentPkt) []int {
	var out []int
	for _, p := range ps {
		out = append(out, int(p.off))
	}
	return out
}

const ackFeedback = 10 * time.Millisecond

// sendN sends DATA packets first..first+n-1, gap apart, off set to the
// packet number so results can be told apart.
func sendN(h *ackHandler, clk *ackClock, first uint64, n int, gap time.Duration) {
	f := &sfile{}
	for i := 0; i < n; i++ {
		pn := first + uint64(i)
		p := dataPkt(clk.Now(), f)
		p.off = int64(pn)
		h.onSent(clk.Now(), pn, p)
		clk.advance(gap)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func seq(lo, hi int) []int {
	var out []int
	for i := lo; i <= hi; i++ {
		out = append(out, i)
	}
	return out
}

// TestAckHandlerAcksAndLoss drives the handler through the cases the
// sender relies on: each step sends, waits and acknowledges, and the
// acknowledged and lost packets it reports are checked.
func TestAckHandlerAcksAndLoss(t *testing.T) {
	type step struct {
		send      int           // DATA packets to send, 1 ms apart, before the ack
		burst     bool          // send them all at once instead
		wait      time.Duration // then wait this long
		ack       []wire.Range  // then acknowledge these (nil: only look for loss by time)
		wantAcked []int
		wantLost  []int
		inflight  int    // bytes in flight after the step
		late      uint64 // packets declared lost, then acknowledged, so far
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"in order", []step{
			{send: 10, wait: 100 * time.Millisecond, ack: []wire.Range{rng(0, 9)}, wantAcked: seq(0, 9), inflight: 0},
		}},
		{"in order in two reports", []step{
			{send: 10, wait: 100 * time.Millisecond, ack: []wire.Range{rng(0, 4)}, wantAcked: seq(0, 4), inflight: 5000},
			{ack: []wire.Range{rng(0, 9)}, wantAcked: seq(5, 9), inflight: 0},
		}},
		{"reordered within the threshold is not lost", []step{
			{send: 10, wait: 100 * time.Millisecond, ack: []wire.Range{rng(5, 9)}, wantAcked: seq(5, 9), inflight: 5000},
			{wait: time.Millisecond, ack: []wire.Range{rng(0, 9)}, wantAcked: seq(0, 4), inflight: 0},
		}},
		{"lost by packet threshold", []step{
			// 40 acknowledged: 0..8 are 32 or more below it, 9..39 not yet.
			{send: 41, burst: true, wait: time.Millisecond, ack: []wire.Range{rng(40, 40)}, wantAcked: []int{40}, wantLost: seq(0, 8), inflight: 31000},
		}},
		{"lost by time threshold", []step{
			{send: 4, wait: 100 * time.Millisecond, ack: []wire.Range{rng(3, 3)}, wantAcked: []int{3}, inflight: 3000},
			// The loss delay is 9/8 of the RTT (~100 ms) plus the feedback interval.
			{wait: 50 * time.Millisecond, wantLost: seq(0, 2), inflight: 0},
		}},
		{"an ack of a packet already lost (spurious)", []step{
			{send: 4, wait: 100 * time.Millisecond, ack: []wire.Range{rng(3, 3)}, wantAcked: []int{3}, inflight: 3000},
			{wait: 200 * time.Millisecond, wantLost: seq(0, 2), inflight: 0},
			{ack: []wire.Range{rng(0, 3)}, wantAcked: seq(0, 2), inflight: 0, late: 3},
			{ack: []wire.Range{rng(0, 3)}, inflight: 0, late: 3}, // nothing new twice
		}},
		{"unknown packet numbers are ignored", []step{
			{ack: []wire.Range{rng(0, 100)}, inflight: 0}, // nothing sent yet
			{send: 3, ack: []wire.Range{rng(1000, 2000)}, inflight: 3000},
			{ack: []wire.Range{rng(2, ^uint64(0)), rng(0, 0)}, wantAcked: []int{2, 0}, inflight: 1000},
			{ack: []wire.Range{rng(5, 3), rng(^uint64(0), ^uint64(0))}, inflight: 1000}, // inverted, far out
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := newAckClock()
			h := newAckHandler(ackFeedback)
			next := uint64(0)
			for i, s := range tc.steps {
				gap := time.Millisecond
				if s.burst {
					gap = 0
				}
				sendN(&h, clk, next, s.send, gap)
				next += uint64(s.send)
				clk.advance(s.wait)
				var acked, lost []sentPkt
				if s.ack != nil {
					acked, lost = h.onFeedback(clk.Now(), ackOf(s.ack...))
				} else {
					lost, _ = h.detectLoss(clk.Now())
				}
				if got := pktNumbers(acked); !equalInts(got, s.wantAcked) {
					t.Errorf("step %d: acked %v, want %v", i, got, s.wantAcked)
				}
				if got := pktNumbers(lost); !equalInts(got, s.wantLost) {
					t.Errorf("step %d: lost %v, want %v", i, got, s.wantLost)
				}
				if h.inflight != s.inflight {
					t.Errorf("step %d: inflight %d, want %d", i, h.inflight, s.inflight)
				}
				if h.spurious != s.late {
					t.Errorf("step %d: %d packets counted as arrived late, want %d", i, h.spurious, s.late)
				}
			}
		})
	}
}

// TestAckHandlerLossTimer: a packet below the largest acknowledged one is
// held for the loss delay, and detectLoss says when that ends.
func TestAckHandlerLossTimer(t *testing.T) {
	clk := newAckClock()
	h := newAckHandler(ackFeedback)
	sendN(&h, clk, 0, 2, 0)
	sent := clk.Now()
	clk.advance(80 * time.Millisecond)
	if _, lost := h.onFeedback(clk.Now(), ackOf(rng(1, 1))); len(lost) != 0 {
		t.Fatalf("lost %v at once", pktNumbers(lost))
	}
	delay := h.rtt.lossDelay(ackFeedback)
	lost, at := h.detectLoss(clk.Now())
	if len(lost) != 0 || !at.Equal(sent.Add(delay)) {
		t.Fatalf("detectLoss = %v, %v; want none until %v", pktNumbers(lost), at, sent.Add(delay))
	}
	clk.t = at.Add(-time.Nanosecond)
	if lost, _ := h.detectLoss(clk.Now()); len(lost) != 0 {
		t.Fatalf("lost %v before the loss delay", pktNumbers(lost))
	}
	clk.t = at
	if lost, at := h.detectLoss(clk.Now()); !equalInts(pktNumbers(lost), []int{0}) || !at.IsZero() {
		t.Fatalf("detectLoss at the deadline = %v, %v; want [0] and no timer", pktNumbers(lost), at)
	}
}

// TestAckHandlerPTOBacksOff: with DATA in flight and nothing acknowledged,
// the probe timeout fires one PTO after the last send, then doubles up to
// 16 PTOs; an acknowledgement resets it, and nothing in flight stops it.
func TestAckHandlerPTOBacksOff(t *testing.T) {
	clk := newAckClock()
	h := newAckHandler(ackFeedback)
	if _, ok := h.timer(); ok {
		t.Fatal("a timer with nothing sent")
	}
	sendN(&h, clk, 0, 1, 0)
	pto := h.pto()
	if pto != 2*initialRTT {
		t.Fatalf("PTO before any sample %v, want %v", pto, 2*initialRTT)
	}
	for i, mult := range []time.Duration{1, 2, 4, 8, 16, 16} {
		at, ok := h.timer()
		if !ok || !at.Equal(clk.Now().Add(mult*pto)) {
			t.Fatalf("probe %d: timer %v %v, want %v", i, at, ok, clk.Now().Add(mult*pto))
		}
		clk.t = at.Add(-time.Nanosecond)
		if h.onTimer(clk.Now()) {
			t.Fatalf("probe %d fired early", i)
		}
		clk.t = at
		if !h.onTimer(clk.Now()) {
			t.Fatalf("probe %d did not fire at %v", i, at)
		}
		if h.ptoCount != i+1 {
			t.Fatalf("ptoCount %d, want %d", h.ptoCount, i+1)
		}
	}
	// A control packet sent meanwhile does not restart the timer.
	h.onSent(clk.Now(), 1, sentPkt{at: clk.Now(), size: 60, off: 1})
	clk.advance(100 * time.Millisecond)
	sendN(&h, clk, 2, 1, 0)
	if acked, _ := h.onFeedback(clk.Now(), ackOf(rng(1, 1))); len(acked) != 1 || h.ptoCount != 0 {
		t.Fatalf("after an ack: %d acked, ptoCount %d; want 1 and 0", len(acked), h.ptoCount)
	}
	if at, _ := h.timer(); !at.Equal(clk.Now().Add(h.pto())) {
		t.Fatalf("timer after an ack %v, want one PTO from the last send %v", at, clk.Now().Add(h.pto()))
	}
	h.onFeedback(clk.Now(), ackOf(rng(0, 2)))
	if _, ok := h.timer(); ok || h.onTimer(clk.Now().Add(time.Hour)) {
		t.Fatal("a probe timeout with nothing in flight")
	}
}

// TestAckHandlerRefused: a packet the kernel refused leaves flight without
// counting as loss, once.
func TestAckHandlerRefused(t *testing.T) {
	clk := newAckClock()
	h := newAckHandler(ackFeedback)
	sendN(&h, clk, 5, 2, time.Millisecond)
	if p, ok := h.refused(6); !ok || p.off != 6 || h.inflight != 1000 {
		t.Fatalf("refused(6) = %v %v, inflight %d", p.off, ok, h.inflight)
	}
	for _, pn := range []uint64{6, 4, 7, ^uint64(0)} {
		if _, ok := h.refused(pn); ok {
			t.Errorf("refused(%d) took a packet not in flight", pn)
		}
	}
}

var ackSeed = flag.Uint64("ackseed", 0, "seed for TestAckHandlerRandom (0: from the time)")

// TestAckHandlerRandom sends, acknowledges (in random ranges, reordered,
// some never) and advances time at random, and checks the handler against
// a model of the rules: every packet is reported acknowledged at most
// once; lost only while in flight, below the largest acknowledged number,
// and by packet or time threshold; in-flight bytes are the sum of what is
// neither; and the history never keeps a settled packet at its front.
func TestAckHandlerRandom(t *testing.T) {
	seed := *ackSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (-ackseed to repeat)", seed)
	rnd := rand.New(rand.NewPCG(seed, seed))
	clk := newAckClock()
	h := newAckHandler(ackFeedback)
	var pkts []ackModel
	var largest uint64
	haveAck := false
	f := &sfile{}
	var inflight, nAcked, nLost int
	for step := 0; step < 3000; step++ {
		switch op := rnd.IntN(10); {
		case op < 5: // send a few
			for n := rnd.IntN(8); n > 0; n-- {
				pn := uint64(len(pkts))
				p := sentPkt{at: clk.Now(), size: 100 + rnd.IntN(1300), off: int64(pn)}
				if rnd.IntN(5) > 0 {
					p.f = f
				}
				h.onSent(clk.Now(), pn, p)
				pkts = append(pkts, ackModel{at: p.at, size: p.size, data: p.f != nil})
			}
		case op < 8: // acknowledge up to 4 random ranges of what was sent (and a little beyond)
			if len(pkts) == 0 {
				continue
			}
			var rs []wire.Range
			hi := uint64(len(pkts)) + 2
			for n := 1 + rnd.IntN(4); n > 0 && hi > 0; n-- {
				top := hi - 1 - uint64(rnd.IntN(int(min(hi, 40))))
				lo := top - uint64(rnd.IntN(int(min(top+1, 20))))
				rs = append(rs, rng(lo, top))
				if lo < 2 {
					break
				}
				hi = lo - 1
			}
			if l := rs[0].Hi; l >= h.base && l < uint64(len(pkts)) && (!haveAck || l > largest) {
				largest, haveAck = l, true
			}
			acked, lost := h.onFeedback(clk.Now(), ackOf(rs...))
			for _, p := range acked {
				m := &pkts[p.off]
				if m.state == pktAcked {
					t.Fatalf("seed %d step %d: %d acknowledged twice", seed, step, p.off)
				}
				m.state = pktAcked
			}
			checkLost(t, seed, step, lost, pkts, largest, clk.Now(), &h, func(i int64) *uint8 { return &pkts[i].state })
			if h.sent.len() > 0 && h.sent.at(0).state != pktInflight {
				t.Fatalf("seed %d step %d: history keeps a settled packet %d at its front", seed, step, h.base)
			}
		case op < 9: // time passes
			clk.advance(time.Duration(rnd.IntN(int(300 * time.Millisecond))))
			lost, _ := h.detectLoss(clk.Now())
			checkLost(t, seed, step, lost, pkts, largest, clk.Now(), &h, func(i int64) *uint8 { return &pkts[i].state })
		default:
			if h.onTimer(clk.Now()) && h.inflight <= 0 {
				t.Fatalf("seed %d step %d: probe timeout with nothing in flight", seed, step)
			}
		}
		inflight, nAcked, nLost = 0, 0, 0
		for _, m := range pkts {
			nAcked += b2i(m.state == pktAcked)
			nLost += b2i(m.state == pktLost)
			if m.data && m.state == pktInflight {
				inflight += m.size
			}
		}
		if h.inflight != inflight {
			t.Fatalf("seed %d step %d: inflight %d, model %d", seed, step, h.inflight, inflight)
		}
	}
	t.Logf("%d packets: %d acknowledged last, %d lost last", len(pkts), nAcked, nLost)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ackModel is what TestAckHandlerRandom knows of one packet.
type ackModel struct {
	at    time.Time
	size  int
	data  bool
	state uint8
}

func checkLost(t *testing.T, seed uint64, step int, lost []sentPkt, pkts []ackModel, largest uint64, now time.Time, h *ackHandler, state func(int64) *uint8) {
	t.Helper()
	for _, p := range lost {
		m := pkts[p.off]
		if m.state != pktInflight {
			t.Fatalf("seed %d step %d: %d declared lost in state %d", seed, step, p.off, m.state)
		}
		if uint64(p.off) >= largest {
			t.Fatalf("seed %d step %d: %d declared lost, largest acknowledged %d", seed, step, p.off, largest)
		}
		if largest-uint64(p.off) < packetThreshold && now.Sub(m.at) < h.rtt.lossDelay(ackFeedback) {
			t.Fatalf("seed %d step %d: %d declared lost within both thresholds", seed, step, p.off)
		}
		*state(p.off) = pktLost
	}
}

// BenchmarkAckHandler is the handler's cost per DATA packet: sent, then
// acknowledged by a report every 64 packets with one in 100 missing.
func BenchmarkAckHandler(b *testing.B) {
	clk := newAckClock()
	h := newAckHandler(ackFeedback)
	f := &sfile{}
	var pn uint64
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.onSent(clk.Now(), pn, sentPkt{at: clk.Now(), f: f, size: 1400, n: 1350})
		pn++
		clk.advance(10 * time.Microsecond)
		if pn%64 == 0 {
			var rs []wire.Range
			if skip := pn - 64 + uint64(i%100); skip < pn-1 && i%100 < 64 {
				rs = []wire.Range{rng(skip+1, pn-1), rng(pn-64, skip-1)}
			} else {
				rs = []wire.Range{rng(pn-64, pn-1)}
			}
			h.onFeedback(clk.Now(), ackOf(rs...))
		}
	}
}
