//go:build unix

package cputime

import (
	"syscall"
	"time"
)

// Used is the user and system CPU time of the whole process so far, or 0
// if the kernel will not say (getrusage of the calling process does not
// fail on Linux).
func Used() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
