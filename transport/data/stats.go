package data

import (
	"time"

	"github.com/ferry-sync/ferry/transport/seal"
)

// Stats describe a running session for monitoring. Rates are bits/s.
type Stats struct {
	PacketsSent, BytesSent         uint64 // datagrams and their bytes, all types
	PacketsReceived, BytesReceived uint64 // authenticated datagrams
	// PayloadBytes counts file bytes sent for the first time (sender) or
	// written (receiver); RetransmittedBytes counts file bytes sent again.
	PayloadBytes, RetransmittedBytes uint64
	// ResumedBytes were already on the receiver's disk and not sent.
	ResumedBytes uint64
	LostPackets  uint64 // declared lost by the sender
	// LateLosses counts the packets among LostPackets acknowledged after
	// all: they arrived late (reordered or held up past the loss delay),
	// so their retransmission was not needed.
	LateLosses uint64
	SendErrors uint64
	// Dropped counts incoming datagrams refused by reason; Unparsable
	// counts authenticated packets whose body did not decode.
	Dropped    seal.Stats
	Unparsable uint64
	RTT        time.Duration
	// Rate is the current pacing rate; Target and Min are the effective
	// policy bounds it moves within.
	Rate, Target, Min      float64
	FilesDone, FilesFailed int
	// PacketSize is the largest datagram the sender sends now (UDP
	// payload): it follows the path (see Config.PacketSize).
	PacketSize int
	// Sessions is how many sessions these figures add up (Sum); a
	// session's own Stats leave it 0.
	Sessions int
	// Share is the part of its transfer a sender's rate control takes
	// itself for (cc.Config.Share): 1/N for each of N sessions, so the
	// sum over a whole transfer is 1. A receiver's is 0.
	Share float64
}

// Sum adds up the figures of sessions that ran side by side (the lanes of
// one transfer): counts and rates add, RTT and datagram size are the
// largest, Sessions is how many there were.
func Sum(sessions ...Stats) Stats {
	var t Stats
	for _, s := range sessions {
		t.PacketsSent += s.PacketsSent
		t.BytesSent += s.BytesSent
		t.PacketsReceived += s.PacketsReceived
		t.BytesReceived += s.BytesReceived
		t.PayloadBytes += s.PayloadBytes
		t.RetransmittedBytes += s.RetransmittedBytes
		t.ResumedBytes += s.ResumedBytes
		t.LostPackets += s.LostPackets
		t.LateLosses += s.LateLosses
		t.SendErrors += s.SendErrors
		t.Unparsable += s.Unparsable
		d := &t.Dropped
		d.Opened += s.Dropped.Opened
		d.Short += s.Dropped.Short
		d.Malformed += s.Dropped.Malformed
		d.WrongSession += s.Dropped.WrongSession
		d.WrongSide += s.Dropped.WrongSide
		d.Forged += s.Dropped.Forged
		d.Replayed += s.Dropped.Replayed
		d.TooOld += s.Dropped.TooOld
		t.RTT = max(t.RTT, s.RTT)
		t.Rate += s.Rate
		t.Target += s.Target
		t.Min += s.Min
		t.FilesDone += s.FilesDone
		t.FilesFailed += s.FilesFailed
		t.PacketSize = max(t.PacketSize, s.PacketSize)
		t.Sessions += max(s.Sessions, 1)
		t.Share += s.Share
	}
	return t
}

// RetransmitShare is retransmitted bytes as a share of payload bytes.
func (s Stats) RetransmitShare() float64 {
	if s.PayloadBytes == 0 {
		return 0
	}
	return float64(s.RetransmittedBytes) / float64(s.PayloadBytes)
}
