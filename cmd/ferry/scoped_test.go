package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent"
)

// TestContinuousPassIsScopedThroughServe: `ferry run` of a continuous job
// against a real `ferry serve` syncs a change made on either side with a
// pass scoped to the changed path (the pass record and `ferry status` say
// so), and the file arrives.
func TestContinuousPassIsScopedThroughServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	cfgPath := s.jobs(t, "    mode: continuous\n    direction: two-way\n    interval: 1h\n    rescan_interval: 2h\n    cooloff: 200ms\n")
	rj := startRun(t, ctx, cfgPath)
	rj.waitFor(t, ctx, "the server's watch armed", func(j agent.JobStatus) bool {
		return passAfter(time.Time{})(j) && j.NextPass.After(time.Now().Add(90*time.Minute))
	})
	// The first change's pass runs whole: the ancestor is still empty.
	if err := os.MkdirAll(filepath.Join(s.local, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(s.local, "dir", "base.txt"), "base")
	rj.waitFor(t, ctx, "dir/base.txt on the server", func(j agent.JobStatus) bool {
		b, err := os.ReadFile(filepath.Join(s.served, "dir", "base.txt"))
		return err == nil && string(b) == "base" && j.State == agent.Idle
	})

	for _, way := range []struct{ name, from, to string }{
		{"dir/to-server.txt", s.local, s.served},
		{"dir/from-server.txt", s.served, s.local},
	} {
		start := time.Now()
		write(t, filepath.Join(way.from, filepath.FromSlash(way.name)), way.name)
		j := rj.waitFor(t, ctx, way.name+" synced by a scoped pass", func(j agent.JobStatus) bool {
			b, err := os.ReadFile(filepath.Join(way.to, filepath.FromSlash(way.name)))
			return err == nil && string(b) == way.name && passAfter(start)(j) && j.Last.Scoped > 0
		})
		t.Logf("%s: %d changed path(s), %s", way.name, j.Last.Scoped, j.Last.End.Sub(j.Last.Start))
	}
	code, out, stderr := runCLI(t, ctx, "status", "--config", cfgPath)
	if code != exitOK || !strings.Contains(out, "scoped to ") {
		t.Fatalf("ferry status (exit %d) does not say the last pass was scoped:\n%s%s", code, out, stderr)
	}
}
