package data

import (
	"testing"
	"time"
)

func TestPathSizeMovesUpOnceAProbeIsAcknowledged(t *testing.T) {
	p := newPathSize(0, SafePacketSize, ipv4PathMax)
	if p.cur != SafePacketSize {
		t.Fatalf("starts at %d, want %d", p.cur, SafePacketSize)
	}
	n, ok := p.probe()
	if !ok || n != ipv4PathMax {
		t.Fatalf("probe() = %d, %v; want %d, true", n, ok, ipv4PathMax)
	}
	p.probeSent(n, time.Unix(0, 0))
	if _, ok := p.probe(); ok {
		t.Fatal("a second probe while one is in flight")
	}
	p.probeAcked(n)
	if p.cur != ipv4PathMax {
		t.Fatalf("after the ack: %d, want %d", p.cur, ipv4PathMax)
	}
	if _, ok := p.probe(); ok {
		t.Fatal("probing on at the ceiling")
	}
}

func TestPathSizeStaysSmallWhenProbesAreNeverAcknowledged(t *testing.T) {
	p := newPathSize(0, SafePacketSize, ipv6PathMax)
	now := time.Unix(0, 0)
	for i := 0; i < probeTries; i++ {
		n, ok := p.probe()
		if !ok {
			t.Fatalf("try %d: no probe", i)
		}
		p.probeSent(n, now)
		if p.probeExpired(now.Add(time.Second-1), time.Second) {
			t.Fatal("expired before its timeout")
		}
		now = now.Add(time.Second)
		if !p.probeExpired(now, time.Second) {
			t.Fatal("not expired at its timeout")
		}
		p.probeLost(n)
	}
	if n, ok := p.probe(); ok {
		t.Fatalf("probe of %d after %d lost", n, probeTries)
	}
	if p.cur != SafePacketSize {
		t.Fatalf("size %d, want %d", p.cur, SafePacketSize)
	}
	// A late acknowledgement still counts: the path did take it.
	p.probeAcked(ipv6PathMax)
	if p.cur != ipv6PathMax {
		t.Fatalf("late ack: size %d, want %d", p.cur, ipv6PathMax)
	}
}

func TestPathSizeFollowsTheKernelDown(t *testing.T) {
	for _, c := range []struct {
		name             string
		refused, route   int
		wantCur, wantCap int
	}{
		{"route known", ipv4PathMax, 1400 - 28, 1400 - 28, 1400 - 28},
		{"route unknown", ipv4PathMax, 0, SafePacketSize, SafePacketSize},
		{"route says nothing smaller", ipv4PathMax, 65536 - 28, SafePacketSize, SafePacketSize},
		{"even the safe size refused", SafePacketSize, 0, SafePacketSize * 3 / 4, SafePacketSize * 3 / 4},
		{"floor", 300, 100, minPacketSize, minPacketSize},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPathSize(0, SafePacketSize, ipv4PathMax)
			p.probeAcked(ipv4PathMax)
			p.probeSent(ipv4PathMax, time.Unix(0, 0))
			if !p.tooBig(c.refused, c.route) {
				t.Fatal("tooBig reports no change")
			}
			if p.cur != c.wantCur || p.ceil != c.wantCap {
				t.Fatalf("size %d ceiling %d, want %d %d", p.cur, p.ceil, c.wantCur, c.wantCap)
			}
			if p.probing {
				t.Fatal("a probe bigger than the ceiling still counted in flight")
			}
			if _, ok := p.probe(); ok {
				t.Fatal("probing above what the kernel allows")
			}
		})
	}
}

func TestPathSizeProbesTheRouteAfterARefusedProbe(t *testing.T) {
	// The probe of a full MTU is refused on a 1,400-byte link: the next
	// probe is of what the route takes, and its ack moves the size up.
	p := newPathSize(0, SafePacketSize, ipv4PathMax)
	n, _ := p.probe()
	p.probeSent(n, time.Unix(0, 0))
	if p.tooBig(n, 1372) {
		t.Fatal("the size sent changed though only the probe was refused")
	}
	n, ok := p.probe()
	if !ok || n != 1372 {
		t.Fatalf("probe() = %d, %v; want 1372, true", n, ok)
	}
	p.probeSent(n, time.Unix(1, 0))
	p.probeAcked(n)
	if p.cur != 1372 {
		t.Fatalf("size %d, want 1372", p.cur)
	}
}

func TestPathSizeBlackHoleGoesBackToBaseForGood(t *testing.T) {
	p := newPathSize(0, SafePacketSize, ipv4PathMax)
	if p.blackHole() {
		t.Fatal("black hole at the base size changed it")
	}
	p.probeSent(ipv4PathMax, time.Unix(0, 0))
	p.probeAcked(ipv4PathMax)
	if !p.blackHole() || p.cur != SafePacketSize {
		t.Fatalf("after a black hole: size %d, want %d", p.cur, SafePacketSize)
	}
	if _, ok := p.probe(); ok {
		t.Fatal("probing again into a black hole")
	}
}

func TestPathSizeFixedNeverProbes(t *testing.T) {
	p := newPathSize(1000, SafePacketSize, ipv4PathMax)
	if _, ok := p.probe(); ok || p.cur != 1000 {
		t.Fatalf("fixed 1000: size %d, probing %v", p.cur, ok)
	}
}
