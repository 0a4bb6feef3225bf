package agent

import (
	"encoding/json"
	"math"
	"time"
)

// The control API and `ferry status --json` write every duration as float
// seconds under a name ending in _s (docs/json.md), never as Go's integer
// nanoseconds; these methods keep the Go fields time.Durations.

// duration reads float seconds; what is not a number is no duration.
func duration(s float64) time.Duration {
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return 0
	}
	return time.Duration(math.Round(s * float64(time.Second)))
}

type plainProgress Progress

type progressJSON struct {
	plainProgress
	ETA float64 `json:"eta_s"`
}

// MarshalJSON writes ETA as eta_s.
func (p Progress) MarshalJSON() ([]byte, error) {
	return json.Marshal(progressJSON{plainProgress(p), p.ETA.Seconds()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (p *Progress) UnmarshalJSON(b []byte) error {
	var v progressJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*p = Progress(v.plainProgress)
	p.ETA = duration(v.ETA)
	return nil
}

type plainTransfer TransferStatus

type transferJSON struct {
	plainTransfer
	RTT float64 `json:"rtt_s"`
	ETA float64 `json:"eta_s"`
}

// MarshalJSON writes RTT and ETA as rtt_s and eta_s.
func (t TransferStatus) MarshalJSON() ([]byte, error) {
	return json.Marshal(transferJSON{plainTransfer(t), t.RTT.Seconds(), t.ETA.Seconds()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (t *TransferStatus) UnmarshalJSON(b []byte) error {
	var v transferJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*t = TransferStatus(v.plainTransfer)
	t.RTT, t.ETA = duration(v.RTT), duration(v.ETA)
	return nil
}

type plainUnwatched Unwatched

type unwatchedJSON struct {
	plainUnwatched
	Every float64 `json:"every_s"`
}

// MarshalJSON writes Every as every_s.
func (u Unwatched) MarshalJSON() ([]byte, error) {
	return json.Marshal(unwatchedJSON{plainUnwatched(u), u.Every.Seconds()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (u *Unwatched) UnmarshalJSON(b []byte) error {
	var v unwatchedJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*u = Unwatched(v.plainUnwatched)
	u.Every = duration(v.Every)
	return nil
}
