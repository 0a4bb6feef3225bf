package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMaxChangeHaltsMassOverwriteThroughServe: most files on the server
// are overwritten (what ransomware there looks like); the next `ferry
// sync` halts with exit 3, says max_change and how to let the pass
// through once, and changes nothing locally. --allow-changes then lets
// that one pass through.
func TestMaxChangeHaltsMassOverwriteThroughServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	names := []string{"a.txt", "b.txt", "c.txt", "d.txt"}
	for _, n := range names {
		write(t, filepath.Join(s.served, n), "original "+n)
	}
	cfgPath := s.jobs(t, "    max_change: 50%\n")
	syncOnce(t, ctx, cfgPath)
	for _, n := range names[:3] {
		write(t, filepath.Join(s.served, n), "encrypted!! "+strings.Repeat("x", 40)+n)
	}
	code, out, stderr := runCLI(t, ctx, "sync", "--config", cfgPath, "j")
	if code != exitHalted {
		t.Fatalf("exit %d, want %d (halted): %s%s", code, exitHalted, out, stderr)
	}
	for _, w := range []string{
		"the pass would overwrite 3 files on the local side, more than max_change allows (50% of 4 = 2); nothing was changed",
		fmt.Sprintf("ferry sync --allow-changes --config %s j", cfgPath),
	} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	for _, n := range names {
		if got := read(t, filepath.Join(s.local, n)); got != "original "+n {
			t.Errorf("the halted pass changed local %s: %q", n, got)
		}
	}
	if code, out, stderr := runCLI(t, ctx, "sync", "--allow-changes", "--config", cfgPath, "j"); code != exitOK {
		t.Fatalf("--allow-changes: exit %d: %s%s", code, out, stderr)
	}
	for _, n := range names[:3] {
		if got := read(t, filepath.Join(s.local, n)); !strings.HasPrefix(got, "encrypted!! ") {
			t.Errorf("--allow-changes did not let the pass through: local %s = %q", n, got)
		}
	}
}
