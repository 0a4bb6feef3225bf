package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSyncNowWait: with `ferry run` holding the job, `ferry sync` says to
// ask the agent instead, and `ferry sync-now --wait` asks it for a pass,
// waits for that pass, prints its summary and exits as `ferry sync` would:
// 0 when done, 3 when the pass halts.
func TestSyncNowWait(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg, local, remote := jobFixture(t, "    direction: two-way\n    mode: interval\n    interval: 1h\n    max_delete: 0\n")
	write(t, filepath.Join(local, "keep.txt"), "keep")
	startAgent(t, ctx, cfg)
	// The agent holds the job's snapshot from its first pass on.
	c, _, err := loadJob(cfg, "j")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if a := runningAgent(ctx, c); a != nil {
			if st, err := a.Job(ctx, "j"); err == nil && st.Last != nil {
				break
			}
		}
		if i == 300 {
			t.Fatal("the agent's first pass did not end in 30 s")
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}

	code, out, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j")
	if code != exitError || !strings.Contains(stderr, "held by the running agent") || !strings.Contains(stderr, "ferry sync-now --wait --config") {
		t.Fatalf("ferry sync beside a running agent: exit %d\nout %s\nerr %s", code, out, stderr)
	}

	write(t, filepath.Join(local, "new.txt"), "asked for")
	code, out, stderr = runCLI(t, ctx, "sync-now", "j", "--wait", "--config", cfg)
	if code != exitOK || !strings.Contains(out, "created 1") {
		t.Fatalf("sync-now --wait: exit %d\nout %s\nerr %s", code, out, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(remote, "new.txt")); err != nil || string(b) != "asked for" {
		t.Fatalf("the pass sync-now waited for did not copy new.txt: %q %v", b, err)
	}

	// max_delete: 0 and a deletion: the pass halts, and so does the command.
	if err := os.Remove(filepath.Join(local, "keep.txt")); err != nil {
		t.Fatal(err)
	}
	code, out, stderr = runCLI(t, ctx, "sync-now", "--wait", "--config", cfg, "j")
	if code != exitHalted || !strings.Contains(out+stderr, "max_delete") {
		t.Fatalf("sync-now --wait of a pass that halts: exit %d, want %d\nout %s\nerr %s", code, exitHalted, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(remote, "keep.txt")); err != nil {
		t.Fatalf("the halted pass deleted keep.txt: %v", err)
	}
}
