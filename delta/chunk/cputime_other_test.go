//go:build !linux

package chunk

import "time"

// cpuClock falls back to wall time where thread CPU time is not at hand.
type cpuClock struct{ start time.Time }

func startCPU() cpuClock { return cpuClock{time.Now()} }

func (c cpuClock) now() time.Duration { return time.Since(c.start) }

func (cpuClock) stop() {}
