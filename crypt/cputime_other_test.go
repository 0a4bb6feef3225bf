//go:build !linux

package crypt

import "time"

// threadCPU falls back to wall time where per-thread CPU time is not read.
func threadCPU(f func()) time.Duration {
	t0 := time.Now()
	f()
	return time.Since(t0)
}
