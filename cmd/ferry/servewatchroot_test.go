package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/internal/demokit"
	"github.com/ferry-sync/ferry/transport/server"
)

// TestServerWatchFollowsServedFolderBack: `ferry serve` watching a
// continuous job's folder notices the folder moved away and, once a folder
// is back under its name (restored from a backup), watches that one and
// serves it on the connection the agent kept: a file written there reaches
// the local side by the server's notice, with the poll an hour away and
// the rescan two, and a local file goes to it, not to the folder moved
// away. Before, the server's watch waited for an event that could never
// come (nothing was watched any more), and the kept connection went on
// listing and writing the folder moved away.
func TestServerWatchFollowsServedFolderBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	local, served := filepath.Join(dir, "local"), filepath.Join(dir, "served")
	docs := filepath.Join(served, "docs")
	for _, d := range []string{local, filepath.Join(docs, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(docs, "sub", "a.txt"), "a")
	key, authorized := filepath.Join(dir, "id_ed25519"), filepath.Join(dir, "authorized_keys")
	if err := demokit.WriteKeys(key, authorized, "ferry test"); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Root: served, AuthorizedKeys: authorized, HostKeyPath: filepath.Join(dir, "host_key")})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	t.Cleanup(func() {
		stop()
		<-done
	})
	cfgPath := filepath.Join(dir, "jobs.yaml")
	write(t, cfgPath, fmt.Sprintf("state_dir: %s\njobs:\n  - name: j\n    local: %s\n    remote: ferry://tester@%s/docs\n    identity: %s\n    transport: tcp\n"+
		"    mode: continuous\n    direction: two-way\n    interval: 1h\n    rescan_interval: 2h\n    cooloff: 200ms\n",
		filepath.Join(dir, "state"), local, ln.Addr(), key))
	rj := startRun(t, ctx, cfgPath)
	rj.waitFor(t, ctx, "sub/a.txt reaching the local folder", func(st agent.JobStatus) bool {
		_, err := os.Stat(filepath.Join(local, "sub", "a.txt"))
		return err == nil && st.State == agent.Idle
	})
	// The watch is armed once a change on the server is noticed.
	write(t, filepath.Join(docs, "b.txt"), "b")
	j := rj.waitFor(t, ctx, "b.txt reaching the local folder by the server's notice", func(st agent.JobStatus) bool {
		_, err := os.Stat(filepath.Join(local, "b.txt"))
		return err == nil && st.State == agent.Idle
	})

	// Moved away: the server's notice runs a pass, which finds no folder;
	// once it has ended, the server has seen the folder gone.
	if err := os.Rename(docs, filepath.Join(served, "docs.old")); err != nil {
		t.Fatal(err)
	}
	rj.waitFor(t, ctx, "a pass after the folder moved away", func(st agent.JobStatus) bool {
		return st.Last != nil && st.Last.Start.After(j.Last.Start) && !st.Last.End.IsZero() && st.State != agent.Scanning && st.State != agent.Transferring
	})
	// Restored: a copy comes back under the name, then a new file.
	if err := os.MkdirAll(filepath.Join(docs, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(docs, "sub", "a.txt"), "a")
	write(t, filepath.Join(docs, "b.txt"), "b")
	write(t, filepath.Join(docs, "sub", "c.txt"), "c")
	rj.waitFor(t, ctx, "sub/c.txt, written in the restored folder, reaching the local folder", func(st agent.JobStatus) bool {
		b, err := os.ReadFile(filepath.Join(local, "sub", "c.txt"))
		return err == nil && string(b) == "c"
	})
	// What the local side sends goes to the folder there now, not to the
	// one moved away.
	write(t, filepath.Join(local, "up.txt"), "u")
	rj.waitFor(t, ctx, "up.txt reaching the restored folder", func(agent.JobStatus) bool {
		_, err := os.Stat(filepath.Join(docs, "up.txt"))
		return err == nil
	})
	if _, err := os.Stat(filepath.Join(served, "docs.old", "up.txt")); err == nil {
		t.Fatal("up.txt was written to the folder moved away too")
	}
	for _, p := range []string{"b.txt", filepath.Join("sub", "a.txt")} {
		if _, err := os.Stat(filepath.Join(local, p)); err != nil {
			t.Fatalf("%s: %v (the pass while the folder was gone must delete nothing)", p, err)
		}
	}
}
