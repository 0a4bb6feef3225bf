package agent

import (
	"time"

	"github.com/ferry-sync/ferry/syncer"
)

// Meter folds one pass's events into the progress, rate and ETA a job's
// status shows, for front ends that run a pass themselves (`ferry sync`).
// It is not safe for concurrent use.
type Meter struct {
	p progress
}

// Observe takes in one event of the pass at now.
func (m *Meter) Observe(ev syncer.Event, now time.Time) {
	m.p.observe(ev, now)
}

// Snapshot returns the pass's progress and its files in flight as of now.
func (m *Meter) Snapshot(now time.Time) (Progress, []TransferStatus) {
	return m.p.snapshot(now)
}
