package endpoint

import "time"

// Link is what a transport knows of a data session while it runs: the
// figures a live view shows beside each file in flight. Rates are bits
// per second; a zero field is not known.
type Link struct {
	// RTT is the round-trip time of the path.
	RTT time.Duration
	// Rate is the pacing rate now; Target and Min are the bounds the
	// session's rate policy moves it within (Target is the cap when no
	// target_rate is set).
	Rate, Target, Min float64
	// Retransmitted is the share of file bytes sent more than once.
	Retransmitted float64
}
