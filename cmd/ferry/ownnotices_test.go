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

// TestContinuousOwnWritesToServeCauseNoExtraPass: `ferry run` of a
// continuous job against a real `ferry serve` runs exactly one pass for a
// file written locally: the server's watch reports the pass's own write
// of it, in the state the pass left, and that asks for no second pass.
// An edit of the file on the server right after still comes back.
func TestContinuousOwnWritesToServeCauseNoExtraPass(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	cfgPath := s.jobs(t, "    mode: continuous\n    direction: two-way\n    interval: 1h\n    rescan_interval: 2h\n    cooloff: 200ms\n")
	rj := startRun(t, ctx, cfgPath, "--log-level", "debug")
	// settled: idle with nothing pending, the next pass the safety rescan.
	settled := func(j agent.JobStatus) bool {
		return j.Last != nil && j.Last.Err == "" && j.State == agent.Idle && j.NextPass.After(time.Now().Add(90*time.Minute))
	}
	rj.waitFor(t, ctx, "the server's watch armed", settled)
	logged := func(what string) int {
		b, _ := os.ReadFile(filepath.Join(s.dir, "state", "logs", "ferry.log"))
		return strings.Count(string(b), what)
	}
	passes := func() int { return logged(`"msg":"pass finished"`) }
	own := func() int { return logged("own writes ask for no pass") }
	before, ownBefore := passes(), own()

	local, served := filepath.Join(s.local, "f.txt"), filepath.Join(s.served, "f.txt")
	write(t, local, "from the agent")
	rj.waitFor(t, ctx, "f.txt on the server", func(agent.JobStatus) bool {
		b, err := os.ReadFile(served)
		return err == nil && string(b) == "from the agent"
	})
	// The server's notice of the pass's write has been taken in: as its
	// own write, or (without the fix) as a change that ran another pass.
	rj.waitFor(t, ctx, "the server's notice of f.txt taken in", func(j agent.JobStatus) bool {
		return own() > ownBefore || passes() > before+1
	})
	rj.waitFor(t, ctx, "the job settled", settled)
	if n := passes() - before; n != 1 {
		t.Fatalf("%d passes for one new file, want 1: the server's notice of the pass's own write asked for another", n)
	}

	// Edited on the server right after: it comes back.
	write(t, served, "from the server")
	rj.waitFor(t, ctx, "the server's edit back in the local folder", func(agent.JobStatus) bool {
		b, err := os.ReadFile(local)
		return err == nil && string(b) == "from the server"
	})
}
