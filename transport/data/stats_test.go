package data

import (
	"testing"
	"time"
)

// TestSumAddsSessions: the figures of a transfer's sessions add up, the
// lost packets that arrived late among them (the CLI's transport line
// says how many) and the senders' shares of the transfer, and the round
// trip is the largest.
func TestSumAddsSessions(t *testing.T) {
	a := Stats{PayloadBytes: 100, RetransmittedBytes: 10, LostPackets: 7, LateLosses: 2, RTT: 3 * time.Millisecond, PacketSize: 1472, Share: 0.5}
	b := Stats{PayloadBytes: 300, RetransmittedBytes: 30, LostPackets: 5, LateLosses: 1, RTT: 5 * time.Millisecond, PacketSize: 1200, Share: 0.5}
	s := Sum(a, b)
	if s.PayloadBytes != 400 || s.RetransmittedBytes != 40 || s.LostPackets != 12 || s.LateLosses != 3 {
		t.Errorf("summed counts %+v", s)
	}
	if s.RTT != 5*time.Millisecond || s.PacketSize != 1472 || s.Sessions != 2 {
		t.Errorf("RTT %v, packet size %d, sessions %d; want 5ms, 1472, 2", s.RTT, s.PacketSize, s.Sessions)
	}
	if s.Share != 1 {
		t.Errorf("two halves of a transfer add up to %v flows, want 1", s.Share)
	}
}
