package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent"
)

// TestSyncNowAllowDeletes: a job held by `ferry run` against a real
// `ferry serve` halts on max_delete when files are deleted on the server.
// The halt, `ferry status` (text and JSON) and a refused `ferry sync
// --allow-deletes` all name `ferry sync-now --allow-deletes --wait`, which
// runs one pass with the deletions allowed and exits 0; the next pass is
// guarded again, so a second mass delete halts again.
func TestSyncNowAllowDeletes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	cfg := s.jobs(t, "    direction: two-way\n    mode: interval\n    interval: 1h\n    max_delete: 1\n")
	for i := range 5 {
		write(t, filepath.Join(s.served, fmt.Sprintf("f%d.txt", i)), fmt.Sprint(i))
	}
	rj := startRun(t, ctx, cfg) // trusts the server's new host key
	rj.waitFor(t, ctx, "the agent's first pass", func(j agent.JobStatus) bool { return j.Last != nil && !j.Last.End.IsZero() })
	// A pass that starts after the agent's first: the five files are here.
	if code, out, stderr := runCLI(t, ctx, "sync-now", "--wait", "--config", cfg, "j"); code != exitOK {
		t.Fatalf("first sync-now --wait: exit %d\nout %s\nerr %s", code, out, stderr)
	}
	for i := range 5 {
		if _, err := os.Stat(filepath.Join(s.local, fmt.Sprintf("f%d.txt", i))); err != nil {
			t.Fatalf("first pass: %v", err)
		}
	}

	const fix = "ferry sync-now --allow-deletes --wait --config "
	removeServed := func(names ...string) {
		t.Helper()
		for _, n := range names {
			if err := os.Remove(filepath.Join(s.served, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	removeServed("f0.txt", "f1.txt")
	code, out, stderr := runCLI(t, ctx, "sync-now", "--wait", "--config", cfg, "j")
	if code != exitHalted || !strings.Contains(stderr, fix) {
		t.Fatalf("sync-now --wait of a mass delete: exit %d, want %d and the fix %q\nout %s\nerr %s", code, exitHalted, fix, out, stderr)
	}
	if strings.Contains(stderr, "ferry sync --allow-deletes") {
		t.Errorf("the halt names ferry sync, which the agent refuses:\n%s", stderr)
	}
	if _, out, _ := runCLI(t, ctx, "status", "--config", cfg); !strings.Contains(out, fix) {
		t.Errorf("ferry status does not name %q:\n%s", fix, out)
	}
	if _, out, _ := runCLI(t, ctx, "status", "--json", "--config", cfg); !strings.Contains(out, fix) {
		t.Errorf("ferry status --json does not name %q:\n%s", fix, out)
	}
	code, out, stderr = runCLI(t, ctx, "sync", "--allow-deletes", "--config", cfg, "j")
	if code != exitError || !strings.Contains(stderr, fix) {
		t.Fatalf("ferry sync --allow-deletes beside the agent: exit %d, want %d and %q\nout %s\nerr %s", code, exitError, fix, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(s.local, "f0.txt")); err != nil {
		t.Fatalf("the halted pass deleted f0.txt: %v", err)
	}

	code, out, stderr = runCLI(t, ctx, "sync-now", "--allow-deletes", "--wait", "--config", cfg, "j")
	if code != exitOK {
		t.Fatalf("sync-now --allow-deletes --wait: exit %d\nout %s\nerr %s", code, out, stderr)
	}
	for _, n := range []string{"f0.txt", "f1.txt"} {
		if _, err := os.Stat(filepath.Join(s.local, n)); !os.IsNotExist(err) {
			t.Errorf("the allowed pass left %s: %v", n, err)
		}
	}

	// The next pass is guarded again.
	removeServed("f2.txt", "f3.txt")
	code, out, stderr = runCLI(t, ctx, "sync-now", "--wait", "--config", cfg, "j")
	if code != exitHalted || !strings.Contains(stderr, fix) {
		t.Fatalf("a second mass delete after the allowed pass: exit %d, want %d\nout %s\nerr %s", code, exitHalted, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(s.local, "f2.txt")); err != nil {
		t.Fatalf("the guarded pass deleted f2.txt: %v", err)
	}
}

// TestSyncNowAllowChanges: the same way forward for max_change. A job the
// agent holds halts when the server overwrote more files than max_change;
// the halt and a refused `ferry sync --allow-changes` name `ferry sync-now
// --allow-changes --wait`, which takes them, and the pass after it is
// guarded again. Before, the halt named `ferry sync --allow-changes`,
// which the agent refuses, and sync-now had no way to lift the guard.
func TestSyncNowAllowChanges(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	cfg := s.jobs(t, "    direction: two-way\n    mode: interval\n    interval: 1h\n    max_change: 1\n")
	for i := range 5 {
		write(t, filepath.Join(s.served, fmt.Sprintf("f%d.txt", i)), fmt.Sprint(i))
	}
	rj := startRun(t, ctx, cfg)
	rj.waitFor(t, ctx, "the agent's first pass", func(j agent.JobStatus) bool { return j.Last != nil && !j.Last.End.IsZero() })
	if code, out, stderr := runCLI(t, ctx, "sync-now", "--wait", "--config", cfg, "j"); code != exitOK {
		t.Fatalf("first sync-now --wait: exit %d\nout %s\nerr %s", code, out, stderr)
	}
	overwrite := func(content string, names ...string) {
		t.Helper()
		for _, n := range names {
			write(t, filepath.Join(s.served, n), content)
		}
	}
	local := func(n string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(s.local, n))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	const fix = "ferry sync-now --allow-changes --wait --config "
	overwrite("second version", "f0.txt", "f1.txt")
	code, out, stderr := runCLI(t, ctx, "sync-now", "--wait", "--config", cfg, "j")
	if code != exitHalted || !strings.Contains(stderr, fix) {
		t.Fatalf("sync-now --wait of mass changes: exit %d, want %d and the fix %q\nout %s\nerr %s", code, exitHalted, fix, out, stderr)
	}
	if _, out, _ := runCLI(t, ctx, "status", "--config", cfg); !strings.Contains(out, fix) {
		t.Errorf("ferry status does not name %q:\n%s", fix, out)
	}
	code, out, stderr = runCLI(t, ctx, "sync", "--allow-changes", "--config", cfg, "j")
	if code != exitError || !strings.Contains(stderr, fix) {
		t.Fatalf("ferry sync --allow-changes beside the agent: exit %d, want %d and %q\nout %s\nerr %s", code, exitError, fix, out, stderr)
	}
	if got := local("f0.txt"); got != "0" {
		t.Fatalf("the halted pass overwrote f0.txt: %q", got)
	}
	code, out, stderr = runCLI(t, ctx, "sync-now", "--allow-changes", "--wait", "--config", cfg, "j")
	if code != exitOK {
		t.Fatalf("sync-now --allow-changes --wait: exit %d\nout %s\nerr %s", code, out, stderr)
	}
	for _, n := range []string{"f0.txt", "f1.txt"} {
		if got := local(n); got != "second version" {
			t.Errorf("the allowed pass left %s as %q", n, got)
		}
	}
	// The next pass is guarded again.
	overwrite("third version", "f2.txt", "f3.txt")
	code, out, stderr = runCLI(t, ctx, "sync-now", "--wait", "--config", cfg, "j")
	if code != exitHalted || !strings.Contains(stderr, fix) {
		t.Fatalf("mass changes after the allowed pass: exit %d, want %d\nout %s\nerr %s", code, exitHalted, out, stderr)
	}
	if got := local("f2.txt"); got != "2" {
		t.Fatalf("the guarded pass overwrote f2.txt: %q", got)
	}
}
