package data

import "time"

// rttEstimator is RFC 6298 smoothing over the sender's samples.
type rttEstimator struct {
	srtt, rttvar, latest, minRTT time.Duration
	have                         bool
}

// initialRTT is assumed before the first sample: long enough for wan-200.
const initialRTT = 250 * time.Millisecond

func (r *rttEstimator) update(sample, ackDelay time.Duration) {
	if sample <= 0 {
		return
	}
	if !r.have || sample < r.minRTT {
		r.minRTT = sample
	}
	// The receiver's hold time is not path delay, unless subtracting it
	// would claim a path faster than ever seen.
	if sample-ackDelay >= r.minRTT {
		sample -= ackDelay
	}
	r.latest = sample
	if !r.have {
		r.srtt, r.rttvar, r.have = sample, sample/2, true
		return
	}
	d := r.srtt - sample
	if d < 0 {
		d = -d
	}
	r.rttvar = (3*r.rttvar + d) / 4
	r.srtt = (7*r.srtt + sample) / 8
}

func (r *rttEstimator) smoothed() time.Duration {
	if !r.have {
		return initialRTT
	}
	return r.srtt
}

// pto is how long to wait for an acknowledgement before probing.
func (r *rttEstimator) pto(feedback time.Duration) time.Duration {
	if !r.have {
		return 2 * initialRTT
	}
	return r.srtt + max(4*r.rttvar, 2*time.Millisecond) + 2*feedback
}

// lossDelay is how long after a later packet was acknowledged an earlier
// one still missing counts as lost (reordering tolerance).
func (r *rttEstimator) lossDelay(feedback time.Duration) time.Duration {
	return max(r.smoothed(), r.latest)*9/8 + feedback
}
