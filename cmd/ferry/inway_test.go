package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/internal/demokit"
)

// TestSyncNamesFileInTheWayAndExits1: a user's own NAME.partial (ferry
// writes NAME there first) kept NAME from being synced, and `ferry sync`
// called it "changed during the pass" and exited 0, pass after pass. Now
// the path is listed as a problem with the true reason and the fix, by
// sync and by status, and sync exits 1 until the file is moved.
func TestSyncNamesFileInTheWayAndExits1(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Run("local folder", func(t *testing.T) {
		cfg, local, remote := jobFixture(t, "    direction: two-way\n")
		checkInTheWay(t, ctx, cfg, local, remote, nil)
	})
	t.Run("ferry serve", func(t *testing.T) {
		if testing.Short() {
			t.Skip("starts a real ferry serve")
		}
		dir := t.TempDir()
		local, served := filepath.Join(dir, "local"), filepath.Join(dir, "served")
		for _, d := range []string{local, filepath.Join(served, "docs")} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		key, authorized := filepath.Join(dir, "id_ed25519"), filepath.Join(dir, "authorized_keys")
		if err := demokit.WriteKeys(key, authorized, "ferry demo"); err != nil {
			t.Fatal(err)
		}
		port, err := demokit.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		srv, err := startDemoServer(ctx, &env{stdout: io.Discard, stderr: io.Discard}, dir, served, authorized, port)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.stop)
		cfg := filepath.Join(dir, "jobs.yaml")
		write(t, cfg, fmt.Sprintf("state_dir: %s\njobs:\n  - name: j\n    local: %s\n    remote: ferry://tester@127.0.0.1:%d/docs\n    identity: %s\n    direction: two-way\n",
			filepath.Join(dir, "state"), local, port, key))
		checkInTheWay(t, ctx, cfg, local, filepath.Join(served, "docs"), []string{"--accept-new-host-key"})
	})
}

// checkInTheWay puts a user's NAME.partial in the way of one path on each
// side and checks what sync and status say, and sync's exit code, before
// and after the user moves them.
func checkInTheWay(t *testing.T, ctx context.Context, cfg, local, remote string, first []string) {
	t.Helper()
	// Above 64 KiB: smaller files are received whole under a temporary
	// name, and NAME.partial is not in their way.
	up, down := strings.Repeat("for the remote\n", 5000), strings.Repeat("for the local side\n", 4000)
	write(t, filepath.Join(local, "up.txt"), up)
	write(t, filepath.Join(remote, "up.txt.partial"), "the remote user's draft")
	write(t, filepath.Join(remote, "down.txt"), down)
	write(t, filepath.Join(local, "down.txt.partial"), "the local user's draft")
	write(t, filepath.Join(local, "ok.txt"), "nothing in its way")

	// Each path on a line of its own, with the reason and the fix (from a
	// remote, after the context the transport adds).
	wantLines := [][2]string{
		{"  remote up.txt: ", `a file "up.txt.partial" that ferry did not create is in the way`},
		{"  local down.txt: ", `a file "down.txt.partial" that ferry did not create is in the way`},
	}
	listed := func(what, out string) {
		t.Helper()
		for _, want := range wantLines {
			found := false
			for _, line := range strings.Split(out, "\n") {
				if strings.HasPrefix(line, want[0]) && strings.Contains(line, want[1]) && strings.HasSuffix(line, "move or delete it") {
					found = true
				}
			}
			if !found {
				t.Errorf("%s output has no line %q...%q...move or delete it:\n%s", what, want[0], want[1], out)
			}
		}
	}
	for range 2 { // a second pass does not make it go away
		code, out, stderr := runCLI(t, ctx, append(append([]string{"sync"}, first...), "--config", cfg, "j")...)
		first = nil
		if code != exitError {
			t.Fatalf("sync with files in the way: exit %d, want %d\nout %s\nerr %s", code, exitError, out, stderr)
		}
		listed("sync", out)
		if !strings.Contains(out, "problems 2") {
			t.Errorf("sync's summary does not count the paths as problems:\n%s", out)
		}
		if !strings.Contains(stderr, "2 blocked by a file ferry did not create") {
			t.Errorf("sync's error does not say why it exits 1:\n%s", stderr)
		}
		if strings.Contains(out+stderr, "changed during the pass") {
			t.Errorf("sync still blames a change during the pass:\n%s%s", out, stderr)
		}
	}
	if got := read(t, filepath.Join(remote, "ok.txt")); got != "nothing in its way" {
		t.Errorf("remote ok.txt = %q", got)
	}
	if got := read(t, filepath.Join(remote, "up.txt.partial")); got != "the remote user's draft" {
		t.Errorf("the remote user's file was changed: %q", got)
	}
	if got := read(t, filepath.Join(local, "down.txt.partial")); got != "the local user's draft" {
		t.Errorf("the local user's file was changed: %q", got)
	}

	code, out, stderr := runCLI(t, ctx, "status", "--config", cfg, "j")
	if code != exitOK {
		t.Fatalf("status: exit %d\nout %s\nerr %s", code, out, stderr)
	}
	listed("status", out)

	// The user moves them: the next pass syncs both paths and exits 0.
	for _, p := range []string{filepath.Join(remote, "up.txt.partial"), filepath.Join(local, "down.txt.partial")} {
		if err := os.Rename(p, p+".mine"); err != nil {
			t.Fatal(err)
		}
	}
	code, out, stderr = runCLI(t, ctx, "sync", "--config", cfg, "j")
	if code != exitOK {
		t.Fatalf("sync once the files are moved: exit %d\nout %s\nerr %s", code, out, stderr)
	}
	if got := read(t, filepath.Join(remote, "up.txt")); got != up {
		t.Errorf("remote up.txt is not the local one (%d bytes)", len(got))
	}
	if got := read(t, filepath.Join(local, "down.txt")); got != down {
		t.Errorf("local down.txt is not the remote one (%d bytes)", len(got))
	}
}
