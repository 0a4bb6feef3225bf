//go:build linux

package data

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/transport/seal"
	"github.com/ferry-sync/ferry/transport/wire"
)

// TestLinkSplitsCoalescedReads sends runs of equal-sized packets as one
// segmented send (GSO) over loopback, which hands them to a socket with
// UDP_GRO on as one buffer, and checks that the receiving link splits it
// back into the datagrams sent, whole and in order, the shorter last one
// of a run included. With NoGRO the kernel splits them itself.
func TestLinkSplitsCoalescedReads(t *testing.T) {
	for _, noGRO := range []bool{false, true} {
		r := rand.New(rand.NewPCG(testSeed(t), 11))
		cfg, err := testConfig(r).withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		sc, rc := udpPair(t)
		scfg, rcfg := cfg, cfg
		scfg.Peer, rcfg.Peer, rcfg.NoGRO = rc.LocalAddr(), sc.LocalAddr(), noGRO
		sbox, err := seal.New(cfg.Key, cfg.Session, seal.Sender)
		if err != nil {
			t.Fatal(err)
		}
		rbox, err := seal.New(cfg.Key, cfg.Session, seal.Receiver)
		if err != nil {
			t.Fatal(err)
		}
		sl := newLink(sc, sbox, scfg)
		if !sl.gso {
			t.Skip("the kernel does not segment UDP sends (UDP_SEGMENT)")
		}
		rl := newLink(rc, rbox, rcfg)
		if !noGRO && !rl.gro {
			t.Skip("the kernel does not coalesce UDP reads (UDP_GRO)")
		}
		if noGRO && rl.gro {
			t.Fatal("NoGRO set, but the link turned receive coalescing on")
		}
		rl.start()
		full := ipv4PathMax - wire.HeaderLen - seal.Overhead
		// Two runs that each go as one segmented send: 30 full packets
		// and a short one, then 20 full ones. Few enough for any socket
		// buffer, so the kernel has no reason to drop one.
		var sizes []int
		for range 30 {
			sizes = append(sizes, full)
		}
		sizes = append(sizes, 100)
		for range 20 {
			sizes = append(sizes, full)
		}
		want := queueRandom(sl, r, sizes)
		sl.flush()
		if sl.sentPkts != uint64(len(want)) || sl.sendErrs != 0 {
			t.Fatalf("sent %d of %d packets, %d errors", sl.sentPkts, len(want), sl.sendErrs)
		}
		var got []inPkt
		timeout := time.After(10 * time.Second)
		for len(got) < len(want) {
			select {
			case ps := <-rl.in:
				got = append(got, ps...)
			case err := <-rl.rerr:
				t.Fatal(err)
			case <-timeout:
				t.Fatalf("noGRO=%v: %d of %d packets arrived", noGRO, len(got), len(want))
			}
		}
		rl.close()
		for i, w := range want {
			if got[i].size != wire.HeaderLen+len(w)+seal.Overhead || !bytes.Equal(got[i].body, w) {
				t.Fatalf("noGRO=%v: packet %d: %d bytes on the wire, body equal %v; want %d bytes", noGRO, i, got[i].size, bytes.Equal(got[i].body, w), len(w))
			}
		}
		coalesced := rl.groReads.Load()
		t.Logf("noGRO=%v: %d packets in %d coalesced reads", noGRO, len(want), coalesced)
		if noGRO && coalesced != 0 {
			t.Fatalf("%d coalesced reads with NoGRO", coalesced)
		}
		if !noGRO && coalesced == 0 {
			t.Fatal("no read was coalesced: loopback delivers a segmented send to a UDP_GRO socket whole")
		}
	}
}
