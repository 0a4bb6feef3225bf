//go:build !unix && !windows

package cputime

import "time"

// Used is 0 where the platform has no per-process CPU clock ferry knows of.
func Used() time.Duration { return 0 }
