package data

import (
	"net"
	"time"
)

// Datagram sizes (UDP payload, ferry header to GCM tag) a session sends.
const (
	// ipv4PathMax fills a 1,500-byte MTU over IPv4 (20 bytes of IP, 8 of
	// UDP); ipv6PathMax over IPv6 (40 of IP).
	ipv4PathMax = 1500 - 20 - 8
	ipv6PathMax = 1500 - 40 - 8
	// SafePacketSize fits the smallest MTU IPv6 allows (1,280 bytes), and
	// so nearly every IPv4 path too: a session starts at it and keeps to
	// it until a probe of the full size comes back.
	SafePacketSize = 1280 - 40 - 8
	// probeTries is how many full-size probes in a row may go
	// unacknowledged before the session takes the path for one that drops
	// big datagrams silently and stays at the size it has.
	probeTries = 3
)

// pathSize is the datagram size a session sends, following the path (in
// the manner of RFC 8899, "datagram packetization layer PMTU discovery"):
// it starts at base, sends one padded probe of ceil, and moves up to ceil
// once the peer acknowledges it. A probe lost probeTries times in a row
// leaves the size where it is (a path that drops big datagrams without a
// word: no stall, only a smaller size). The kernel refusing a datagram as
// too big (EMSGSIZE: the route's MTU, or an ICMP "fragmentation needed"
// it heard) lowers ceil, and cur with it, to what the route allows.
//
// It is pure: the caller feeds it events and the time.
type pathSize struct {
	cur, base, ceil int

	probing  bool // a probe is in flight
	probeAt  time.Time
	probeLen int
	failed   int // probes of ceil lost in a row
}

// newPathSize starts at base (or at fixed, which is then never changed
// by probes) with ceil the most the path may take.
func newPathSize(fixed, base, ceil int) pathSize {
	if fixed > 0 {
		return pathSize{cur: fixed, base: fixed, ceil: fixed}
	}
	base = min(base, ceil)
	return pathSize{cur: base, base: base, ceil: ceil}
}

// probe reports the size of a probe to send now, if one is due.
func (p *pathSize) probe() (int, bool) {
	if p.probing || p.cur >= p.ceil || p.failed >= probeTries {
		return 0, false
	}
	return p.ceil, true
}

// probeSent notes a probe of size n put on the wire at now.
func (p *pathSize) probeSent(n int, now time.Time) {
	p.probing, p.probeAt, p.probeLen = true, now, n
}

// probeAcked notes the peer got a probe of size n: the path carries it.
func (p *pathSize) probeAcked(n int) {
	if n == p.probeLen {
		p.probing = false
	}
	if n > p.cur && n <= p.ceil {
		p.cur = n
		p.failed = 0
	}
}

// probeLost notes a probe of size n declared lost (or timed out).
func (p *pathSize) probeLost(n int) {
	if !p.probing || n != p.probeLen {
		return
	}
	p.probing = false
	if n == p.ceil {
		p.failed++
	}
}

// probeExpired reports whether the probe in flight has gone unanswered so
// long (timeout after its sending) that it is lost, for when no later
// packet's acknowledgement shows it.
func (p *pathSize) probeExpired(now time.Time, timeout time.Duration) bool {
	return p.probing && now.Sub(p.probeAt) >= timeout
}

// blackHole notes that datagrams above base stopped getting through while
// smaller ones still do (the path changed, and no ICMP said so): back to
// base, with no more probes this session. It reports whether the size
// changed.
func (p *pathSize) blackHole() bool {
	if p.cur <= p.base {
		return false
	}
	p.cur = p.base
	p.failed = probeTries
	p.probing = false
	return true
}

// tooBig notes the kernel refused a datagram of n bytes as larger than the
// path; route is the largest datagram the route allows as the kernel knows
// it (0: unknown). It reports whether the size sent changed.
func (p *pathSize) tooBig(n, route int) bool {
	limit := route
	if limit <= 0 || limit >= n {
		// Nothing better known: back to the safe size, or below it
		// when even that was refused.
		limit = p.base
		if n <= p.base {
			limit = n * 3 / 4
		}
	}
	limit = max(limit, minPacketSize)
	if limit >= p.ceil {
		return false
	}
	old := p.cur
	p.ceil = limit
	p.cur = min(p.cur, limit)
	p.base = min(p.base, limit)
	if p.probing && p.probeLen > limit {
		p.probing = false
	}
	p.failed = 0
	return p.cur != old
}

// blackHoleLosses is how many DATA packets above the safe size in a row,
// lost over blackHolePTOs probe timeouts with nothing of their size
// acknowledged, make the sender take the path for one that stopped
// carrying them. Both: a burst of loss at a full queue loses many packets
// in a row, but not for several round trips while feedback still comes.
const (
	blackHoleLosses = 16
	blackHolePTOs   = 3
)

// bigLoss watches DATA packets above the safe size: lost counts those
// declared lost since one was last acknowledged (ackAt, or when the size
// went up).
type bigLoss struct {
	lost  int
	ackAt time.Time
}

// acked notes a big packet acknowledged (or the size raised) at now.
func (b *bigLoss) acked(now time.Time) { b.lost, b.ackAt = 0, now }

// blackHole reports whether big packets have stopped getting through:
// blackHoleLosses lost and none acknowledged for blackHolePTOs probe
// timeouts. It then starts counting again.
func (b *bigLoss) blackHole(now time.Time, pto time.Duration) bool {
	if b.lost < blackHoleLosses || now.Sub(b.ackAt) < blackHolePTOs*pto {
		return false
	}
	b.lost = 0
	return true
}

// pathCeiling is the largest datagram worth trying to peer: a full
// 1,500-byte MTU for its address family where the kernel reports a
// smaller path (EMSGSIZE, Linux), else the fixed fallback size.
func pathCeiling(peer net.Addr) int {
	if !pmtuSupported {
		return DefaultPacketSize
	}
	if ua, ok := peer.(*net.UDPAddr); ok && ua.IP.To4() == nil {
		return ipv6PathMax
	}
	return ipv4PathMax
}

// routeMax is the largest datagram the kernel's route to peer allows now
// (its device MTU, or a smaller path MTU learned from ICMP), 0 if unknown.
func routeMax(peer net.Addr) int {
	ua, ok := peer.(*net.UDPAddr)
	if !ok {
		return 0
	}
	mtu := routeMTU(ua)
	if mtu <= 0 {
		return 0
	}
	if ua.IP.To4() != nil {
		return mtu - 20 - 8
	}
	return mtu - 40 - 8
}
