package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/internal/demokit"
	"github.com/ferry-sync/ferry/internal/watch"
	"github.com/ferry-sync/ferry/transport/server"
)

// limitedWatcher is a real watcher that holds at most n watches and
// refuses more with ENOSPC, as inotify does at max_user_watches.
type limitedWatcher struct {
	watch.Watcher
	mu   sync.Mutex
	n    int
	held map[string]bool
}

func (w *limitedWatcher) Add(name string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.held[name] && len(w.held) >= w.n {
		return fmt.Errorf("%q: %w", name, syscall.ENOSPC)
	}
	if err := w.Watcher.Add(name); err != nil {
		return err
	}
	w.held[name] = true
	return nil
}

// TestContinuousJobPollsServerAtWatchLimit: `ferry run` of a continuous
// job whose `ferry serve` cannot watch the whole folder (its watcher is at
// the inotify watch limit after the folder itself) says so once in its
// log, naming the sysctl to raise on the server once, and brings a file
// written in the unwatched directory on the server by a pass every
// interval.
func TestContinuousJobPollsServerAtWatchLimit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	local, served := filepath.Join(dir, "local"), filepath.Join(dir, "served")
	for _, d := range []string{local, filepath.Join(served, "docs", "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	key, authorized := filepath.Join(dir, "id_ed25519"), filepath.Join(dir, "authorized_keys")
	if err := demokit.WriteKeys(key, authorized, "ferry demo"); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Root: served, AuthorizedKeys: authorized, HostKeyPath: filepath.Join(dir, "host_key"),
		Watcher: func() (watch.Watcher, error) {
			w, err := watch.NewFS()
			if err != nil {
				return nil, err
			}
			return &limitedWatcher{Watcher: w, n: 1, held: map[string]bool{}}, nil
		}})
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
		"    mode: continuous\n    direction: two-way\n    interval: 1s\n    rescan_interval: 2h\n    cooloff: 200ms\n",
		filepath.Join(dir, "state"), local, ln.Addr(), key))
	rj := startRun(t, ctx, cfgPath)
	j := rj.waitFor(t, ctx, "first pass", passAfter(time.Time{}))

	write(t, filepath.Join(served, "docs", "sub", "x.txt"), "x")
	j = rj.waitFor(t, ctx, "sub/x.txt reaching the local folder by a poll", func(st agent.JobStatus) bool {
		b, err := os.ReadFile(filepath.Join(local, "sub", "x.txt"))
		return err == nil && string(b) == "x" && passAfter(j.Last.Start)(st)
	})
	// Another poll, which says nothing new.
	rj.waitFor(t, ctx, "another poll", passAfter(j.Last.Start))
	log, err := os.ReadFile(filepath.Join(dir, "state", "logs", "ferry.log"))
	if err != nil {
		t.Fatal(err)
	}
	var said []string
	for _, l := range strings.Split(string(log), "\n") {
		if strings.Contains(l, "fs.inotify.max_user_watches") {
			said = append(said, l)
		}
	}
	if len(said) != 1 || strings.Count(said[0], "fs.inotify.max_user_watches") != 1 ||
		!strings.Contains(said[0], "watch limit is reached on the server") {
		t.Fatalf("want one line saying the server's watch limit is reached, naming the sysctl once; got:\n%s", strings.Join(said, "\n"))
	}
	t.Logf("%s", said[0])
}
