package server

import (
	"testing"

	"github.com/ferry-sync/ferry/config"
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
