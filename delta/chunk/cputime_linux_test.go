package chunk

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// cpuClock measures the CPU time of the calling goroutine's thread, which it
// locks: on a loaded machine a benchmark's wall time mostly measures the
// other processes, its CPU time does not.
type cpuClock struct{}

func startCPU() cpuClock {
	runtime.LockOSThread()
	return cpuClock{}
}

func (cpuClock) now() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (cpuClock) stop() { runtime.UnlockOSThread() }
