package data

import (
	"time"

	"github.com/ferry-sync/ferry/transport/wire"
)

// sentPkt is one packet the sender put on the wire, as the ackHandler
// remembers it. f is nil for control packets (FILE, PING, ...): they are
// tracked for loss counting and RTT but not counted in flight.
type sentPkt struct {
	at    time.Time
	f     *sfile
	off   int64
	n     int
	size  int
	state uint8
	probe bool // a padded probe of the path's datagram size
}

const (
	pktInflight uint8 = iota
	pktAcked
	pktLost
)

// packetThreshold: a packet this many numbers below an acknowledged one is
// lost whatever the time (reordering beyond it is rare on real paths).
const packetThreshold = 32

// ackHandler keeps the sender's history of sent packets, the round-trip
// estimate, loss detection and the probe timeout (in the manner of
// quic-go's ackhandler). It does no I/O and never reads the clock: the
// sender's loop feeds it events with their time and acts on what it
// returns (data of lost packets to send again, a probe to send).
//
// The slices it returns are reused by its next call.
type ackHandler struct {
	// feedback is the receiver's report interval, part of every timeout.
	feedback time.Duration

	sent     sentRing
	base     uint64 // packet number of sent.at(0)
	inflight int    // bytes of DATA neither acknowledged nor lost
	lastSent time.Time
	ptoCount int // probe timeouts since something was last acknowledged
	largest  uint64
	haveAck  bool
	rtt      rttEstimator
	// spurious counts DATA packets declared lost that were acknowledged
	// after all: they arrived late, not never.
	spurious uint64

	acked, lost []sentPkt
}

func newAckHandler(feedback time.Duration) ackHandler {
	return ackHandler{feedback: feedback}
}

// onSent records packet pn, sent at now. Numbers come consecutively; a gap
// (which would be a bug in link) is filled with packets taken as acknowledged.
func (h *ackHandler) onSent(now time.Time, pn uint64, p sentPkt) {
	if h.sent.len() == 0 {
		h.base = pn
	}
	for h.base+uint64(h.sent.len()) < pn {
		h.sent.push(sentPkt{state: pktAcked})
	}
	h.sent.push(p)
	if p.f != nil {
		h.inflight += p.size
		h.lastSent = now
	}
}

// onFeedback takes the receiver's acknowledgements, received at now, and
// returns the packets they newly acknowledge (in the report's order,
// including any declared lost before: a spurious loss) and the packets now
// declared lost. Numbers never sent are ignored.
func (h *ackHandler) onFeedback(now time.Time, fb wire.Feedback) (acked, lost []sentPkt) {
	h.acked = h.acked[:0]
	if largest, ok := fb.Largest(); ok {
		end := h.base + uint64(h.sent.len())
		largestNew := h.ackRanges(fb.Ranges, largest)
		if largest >= h.base && largest < end && (!h.haveAck || largest > h.largest) {
			if largestNew {
				h.rtt.update(now.Sub(h.sent.at(int(largest-h.base)).at), fb.AckDelay)
			}
			h.largest, h.haveAck = largest, true
		}
		if len(h.acked) > 0 {
			h.ptoCount = 0
		}
	}
	lost, _ = h.detectLoss(now)
	for h.sent.len() > 0 && h.sent.at(0).state != pktInflight {
		h.sent.popFront()
		h.base++
	}
	return h.acked, lost
}

// ackRanges marks acknowledged the packets of ranges still remembered and
// not acknowledged yet, appends them to h.acked, and reports whether
// largest was one of them.
func (h *ackHandler) ackRanges(ranges []wire.Range, largest uint64) (largestNew bool) {
	end := h.base + uint64(h.sent.len())
	for _, rg := range ranges {
		lo, hi := max(rg.Lo, h.base), min(rg.Hi, end-1)
		if end == 0 || lo > hi || hi < h.base {
			continue
		}
		for pn := lo; pn <= hi; pn++ {
			p := h.sent.at(int(pn - h.base))
			if p.state == pktAcked {
				continue
			}
			if p.state == pktInflight && p.f != nil {
				h.inflight -= p.size
			}
			if p.state == pktLost && p.f != nil {
				h.spurious++
			}
			if pn == largest {
				largestNew = true
			}
			p.state = pktAcked
			h.acked = append(h.acked, *p)
		}
	}
	return largestNew
}

// detectLoss declares lost the packets below the largest acknowledged one
// that are packetThreshold numbers below it or were sent more than the
// loss delay ago, returns them, and returns when the next one would time
// out (zero if none is waiting).
func (h *ackHandler) detectLoss(now time.Time) ([]sentPkt, time.Time) {
	h.lost = h.lost[:0]
	if !h.haveAck {
		return h.lost, time.Time{}
	}
	delay := h.rtt.lossDelay(h.feedback)
	for i := range h.sent.len() {
		pn := h.base + uint64(i)
		if pn >= h.largest {
			break
		}
		p := h.sent.at(i)
		if p.state != pktInflight {
			continue
		}
		if h.largest-pn < packetThreshold && now.Sub(p.at) < delay {
			// Later packets were sent later still: none of them is lost yet.
			return h.lost, p.at.Add(delay)
		}
		p.state = pktLost
		if p.f != nil {
			h.inflight -= p.size
		}
		h.lost = append(h.lost, *p)
	}
	return h.lost, time.Time{}
}

// refused takes packet pn out of flight without counting it as loss: the
// kernel refused to send it. It returns the packet if it was in flight.
func (h *ackHandler) refused(pn uint64) (sentPkt, bool) {
	if pn < h.base || pn-h.base >= uint64(h.sent.len()) {
		return sentPkt{}, false
	}
	p := h.sent.at(int(pn - h.base))
	if p.state != pktInflight {
		return sentPkt{}, false
	}
	p.state = pktLost
	p.probe = false
	if p.f != nil {
		h.inflight -= p.size
	}
	return *p, true
}

// pto is the probe timeout before backoff.
func (h *ackHandler) pto() time.Duration { return h.rtt.pto(h.feedback) }

// ptoAt is when to probe if nothing is acknowledged before: one PTO after
// the last DATA sent, doubling with each probe sent since (up to 16×).
func (h *ackHandler) ptoAt() time.Time {
	return h.lastSent.Add(h.pto() << min(h.ptoCount, 4))
}

// timer is when the probe timeout fires, if DATA is in flight.
func (h *ackHandler) timer() (time.Time, bool) {
	if h.inflight <= 0 {
		return time.Time{}, false
	}
	return h.ptoAt(), true
}

// onTimer reports whether a probe is due at now (DATA in flight and
// nothing acknowledged for a PTO); if so it counts one and restarts the
// timer from now, backed off.
func (h *ackHandler) onTimer(now time.Time) bool {
	if h.inflight <= 0 || now.Before(h.ptoAt()) {
		return false
	}
	h.ptoCount++
	h.lastSent = now
	return true
}

// newestData returns the newest DATA packet still in flight, if any.
func (h *ackHandler) newestData() (sentPkt, bool) {
	for i := h.sent.len() - 1; i >= 0; i-- {
		if p := h.sent.at(i); p.f != nil && p.state == pktInflight {
			return *p, true
		}
	}
	return sentPkt{}, false
}

// sentRing is the history of sent packets, oldest first: a ring buffer,
// because packets leave at the front as they are acknowledged and arrive
// at the back as they are sent. A slice that slid along (sent[1:], then
// append) grew a new array and copied the whole window in flight every
// few thousand packets: about a tenth of the sender's CPU on loopback.
type sentRing struct {
	buf   []sentPkt // len(buf) is 0 or a power of two
	head  int       // index in buf of the oldest packet
	count int
}

func (r *sentRing) len() int { return r.count }

// at returns the i-th oldest packet, 0 <= i < len().
func (r *sentRing) at(i int) *sentPkt {
	if i < 0 || i >= r.count {
		panic("sentRing: index out of range")
	}
	return &r.buf[(r.head+i)&(len(r.buf)-1)]
}

// push appends p as the newest packet.
func (r *sentRing) push(p sentPkt) {
	if r.count == len(r.buf) {
		nb := make([]sentPkt, max(64, 2*len(r.buf)))
		for i := range r.count {
			nb[i] = *r.at(i)
		}
		r.buf, r.head = nb, 0
	}
	r.buf[(r.head+r.count)&(len(r.buf)-1)] = p
	r.count++
}

// popFront forgets the oldest packet.
func (r *sentRing) popFront() {
	r.buf[r.head] = sentPkt{}
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.count--
}

// front returns up to n of the oldest packets, for logging.
func (r *sentRing) front(n int) []sentPkt {
	out := make([]sentPkt, 0, min(n, r.count))
	for i := range min(n, r.count) {
		out = append(out, *r.at(i))
	}
	return out
}
