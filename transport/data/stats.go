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
	SendErrors   uint64
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
}

// RetransmitShare is retransmitted bytes as a share of payload bytes.
func (s Stats) RetransmitShare() float64 {
	if s.PayloadBytes == 0 {
		return 0
	}
	return float64(s.RetransmittedBytes) / float64(s.PayloadBytes)
}
