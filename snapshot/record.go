package snapshot

import "time"

// PassRecord is the outcome of one sync pass, kept for `ferry status`.
type PassRecord struct {
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Created   int       `json:"created"`
	Updated   int       `json:"updated"`
	Deleted   int       `json:"deleted"`
	Conflicts int       `json:"conflicts"`
	Problems  int       `json:"problems"`
	Skipped   int       `json:"skipped"` // changed between scan and apply
	Bytes     int64     `json:"bytes"`
	// Halted is the reason the pass halted before doing anything, if it did.
	Halted string `json:"halted,omitempty"`
	// Err is a failure other than a halt.
	Err string `json:"err,omitempty"`
}
