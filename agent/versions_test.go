package agent

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/versions"
)

// keepAt puts a version of rel, content, into dir's store as kept at t.
func keepAt(t *testing.T, dir, rel, content string, at time.Time) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := versions.Open(dir, versions.Options{Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Keep(rel, versions.Deleted); err != nil {
		t.Fatal(err)
	}
}

// TestPassPrunesVersionsOnTheAgentsClock: after a pass the agent prunes
// the local folder's store by the job's policy, measuring ages on its own
// clock (a fake one here, years after the real time would say), and
// status reports what the store holds.
func TestPassPrunesVersionsOnTheAgentsClock(t *testing.T) {
	local := t.TempDir()
	start := mustTime(t, "2025-01-03 00:03:00")
	keepAt(t, local, "old.txt", "forty days old", start.Add(-40*24*time.Hour))
	keepAt(t, local, "new.txt", "a day old", start.Add(-24*time.Hour))
	job := config.Job{Name: "j", Local: local, Remote: filepath.Join(t.TempDir(), "missing"), Versions: versions.DefaultPolicy()}
	h := newHarness(t, testConfig(t, job), takes(0))
	h.nextPass()
	waitFor(t, "versions_bytes after the pass", func() bool { return h.status("j").VersionsBytes == int64(len("a day old")) })
	s, err := versions.Open(local, versions.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if list, _ := s.List(""); len(list) != 1 || list[0].Path != "new.txt" {
		t.Fatalf("after the pass the store holds %+v, want new.txt only", list)
	}
}

// TestPassAfterResetKeepsWithReasonReset: the passes after ferry
// reset-sync, until one succeeds, tell the folder to keep what they
// replace or delete with reason reset; the others leave the default.
func TestPassAfterResetKeepsWithReasonReset(t *testing.T) {
	var mu sync.Mutex
	var reasons []versions.Reason
	h := newHarness(t, testConfig(t, config.Job{Name: "j", Local: "/l", Remote: "/r"}),
		func(ctx context.Context, h *harness, opts syncer.Options) (snapshot.PassRecord, error) {
			mu.Lock()
			reasons = append(reasons, versions.ReasonFrom(ctx, "default"))
			mu.Unlock()
			return snapshot.PassRecord{}, nil
		})
	h.nextPass()
	if err := h.a.ResetSync("j"); err != nil {
		t.Fatal(err)
	}
	h.nextPass()
	if err := h.a.SyncNow("j"); err != nil {
		t.Fatal(err)
	}
	h.nextPass()
	mu.Lock()
	defer mu.Unlock()
	if len(reasons) != 3 || reasons[0] != "default" || reasons[1] != versions.Reset || reasons[2] != "default" {
		t.Fatalf("reasons of the passes: %q, want default, reset, default", reasons)
	}
}
