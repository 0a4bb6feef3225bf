package crypt

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU runs f on a locked thread and returns the CPU time that thread
// used: on a loaded machine a benchmark's wall time mostly measures the
// other processes.
func threadCPU(f func()) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := cpuNow()
	f()
	return cpuNow() - t0
}

func cpuNow() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
