package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
)

// Environment variables that profile any ferry command, so the real
// processes of a measurement (a `ferry serve` in a namespace, a `ferry sync`)
// can be looked at with `go tool pprof` without a special build.
const (
	envCPUProfile = "FERRY_CPUPROFILE"
	envMemProfile = "FERRY_MEMPROFILE"
)

// profiler writes the profiles asked for by the environment. stop must run
// before the process exits; main calls it after the command returns, which
// SIGINT and SIGTERM also reach (they cancel the command's context).
type profiler struct {
	cpu     *os.File
	memPath string
	stderr  io.Writer
}

// startProfiles starts a CPU profile if getenv names a file for one and
// remembers where a heap profile goes. A file that cannot be created is
// reported and skipped: profiling never stops a command from running.
func startProfiles(getenv func(string) string, stderr io.Writer) *profiler {
	p := &profiler{memPath: getenv(envMemProfile), stderr: stderr}
	if path := getenv(envCPUProfile); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintf(stderr, "ferry: unable to create CPU profile (%s): %v; running without it\n", envCPUProfile, err)
			return p
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "ferry: unable to start CPU profile %s: %v; running without it\n", path, err)
			_ = f.Close()
			return p
		}
		p.cpu = f
	}
	return p
}

// stop finishes the CPU profile and writes the heap profile.
func (p *profiler) stop() {
	if p.cpu != nil {
		pprof.StopCPUProfile()
		if err := p.cpu.Close(); err != nil {
			fmt.Fprintf(p.stderr, "ferry: unable to write CPU profile %s: %v\n", p.cpu.Name(), err)
		}
		p.cpu = nil
	}
	if p.memPath != "" {
		if err := writeHeapProfile(p.memPath); err != nil {
			fmt.Fprintf(p.stderr, "ferry: unable to write heap profile (%s): %v\n", envMemProfile, err)
		}
		p.memPath = ""
	}
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	// Up-to-date statistics: without a collection the profile lags by one.
	runtime.GC()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
