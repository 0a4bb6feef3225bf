package server

import (
	"net"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/transport/control"
)

// TestSharesDivideCaps: sessions under one cap split it evenly, the split
// follows sessions starting and ending, and the user and total caps both
// hold at every moment.
func TestSharesDivideCaps(t *testing.T) {
	alice := &account{name: "alice", rateCap: 60e6}
	bob := &account{name: "bob"}
	s := newShares(100e6)
	got := map[string]config.Rate{}
	setter := func(name string) func(config.Rate) { return func(r config.Rate) { got[name] = r } }

	leaveA1 := s.join(alice, setter("a1"))
	if got["a1"] != 60e6 {
		t.Fatalf("one session of alice: cap %v, want her 60 Mbit/s", got["a1"])
	}
	leaveB := s.join(bob, setter("b"))
	if got["a1"] != 50e6 || got["b"] != 50e6 {
		t.Fatalf("alice and bob: caps %v and %v, want 50 Mbit/s each of the total", got["a1"], got["b"])
	}
	leaveA2 := s.join(alice, setter("a2"))
	// Three sessions: a third of the total each, but alice's two share her 60.
	if got["a1"] != 30e6 || got["a2"] != 30e6 || got["b"] != config.Rate(100e6)/3 {
		t.Fatalf("three sessions: caps %v", got)
	}
	var sum config.Rate
	for _, r := range got {
		sum += r
	}
	if sum > 100e6 {
		t.Fatalf("caps add up to %v, above the 100 Mbit/s total", sum)
	}
	leaveB()
	leaveB() // a second leave changes nothing
	if got["a1"] != 30e6 || got["a2"] != 30e6 {
		t.Fatalf("after bob left: caps %v, want alice's two at 30 Mbit/s", got)
	}
	leaveA1()
	if got["a2"] != 60e6 {
		t.Fatalf("alice's last session: cap %v, want 60 Mbit/s", got["a2"])
	}
	leaveA2()
	if len(s.live) != 0 {
		t.Fatalf("%d sessions left registered", len(s.live))
	}
}

func TestSharesUncapped(t *testing.T) {
	s := newShares(0)
	var c config.Rate = -1
	leave := s.join(&account{name: "u"}, func(r config.Rate) { c = r })
	defer leave()
	s.join(&account{name: "v"}, func(config.Rate) {})
	if c != 0 {
		t.Fatalf("no caps anywhere: cap %v, want 0 (uncapped)", c)
	}
}

// TestDataSessionsTakeTheirShare: the server's data sessions join the
// shares when they start and leave when they end, so two uploads under a
// 40 Mbit/s total run at 20 each.
func TestDataSessionsTakeTheirShare(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(c *Config) { c.UDPConn = pc; c.TotalRate = 40e6 })
	c := ts.hello(t, "")
	var chans []ssh.Channel
	for range 2 {
		ch, reqs, err := c.OpenChannel(control.ChannelType, control.Append(nil, control.DataSession{AbsentUnlisted: true, NoEntries: true}))
		if err != nil {
			t.Fatal(err)
		}
		go ssh.DiscardRequests(reqs)
		if m, _, err := control.ReadFrame(ch, nil); err != nil {
			t.Fatal(err)
		} else if _, ok := m.(control.SessionOK); !ok {
			t.Fatalf("answer %#v, want SessionOK", m)
		}
		chans = append(chans, ch)
	}
	caps := func() []config.Rate {
		sh := ts.srv.shares
		sh.mu.Lock()
		defer sh.mu.Unlock()
		var out []config.Rate
		for s := range sh.live {
			out = append(out, s.cur)
		}
		return out
	}
	waitFor := func(what string, ok func([]config.Rate) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok(caps()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: shares %v", what, caps())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("two sessions at 20 Mbit/s each", func(c []config.Rate) bool {
		return len(c) == 2 && c[0] == 20e6 && c[1] == 20e6
	})
	chans[0].Close()
	waitFor("the remaining session at the whole 40 Mbit/s", func(c []config.Rate) bool { return len(c) == 1 && c[0] == 40e6 })
	chans[1].Close()
	waitFor("no sessions", func(c []config.Rate) bool { return len(c) == 0 })
}
