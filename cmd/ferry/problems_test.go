//go:build unix

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestSyncAndStatusNameUnreadablePaths: a path the scan could not read was
// only counted ("problems 1"); the owner had to search the log for which
// one. sync's summary and status now name it with its side and reason.
func TestSyncAndStatusNameUnreadablePaths(t *testing.T) {
	ctx := context.Background()
	cfg, local, _ := jobFixture(t, "    direction: two-way\n")
	write(t, filepath.Join(local, "ok.txt"), "fine")
	var name, reason string
	if os.Geteuid() == 0 {
		// Root reads a mode-000 file; a FIFO is a problem for anyone.
		name, reason = "pipe", "not a regular file"
		if err := syscall.Mkfifo(filepath.Join(local, name), 0o644); err != nil {
			t.Fatal(err)
		}
	} else {
		name, reason = "secret.txt", "permission denied"
		p := filepath.Join(local, name)
		write(t, p, "hidden")
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(p, 0o644) })
	}
	t.Logf("problem path: %s (euid %d)", name, os.Geteuid())

	code, out, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j")
	if code != exitOK {
		t.Fatalf("sync: exit %d\nout %s\nerr %s", code, out, stderr)
	}
	want := "  local " + name + ": "
	if !strings.Contains(out, "problems 1") || !strings.Contains(out, want) || !strings.Contains(out, reason) {
		t.Errorf("sync output does not name %q with its reason %q:\n%s", name, reason, out)
	}

	code, out, stderr = runCLI(t, ctx, "status", "--config", cfg, "j")
	if code != exitOK {
		t.Fatalf("status: exit %d\nout %s\nerr %s", code, out, stderr)
	}
	if !strings.Contains(out, want) || !strings.Contains(out, reason) {
		t.Errorf("status output does not name %q with its reason %q:\n%s", name, reason, out)
	}
	t.Logf("status:\n%s", out)
}
