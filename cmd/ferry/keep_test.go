package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/service/api"
)

// runningJob is `ferry run` of a jobs file, as users start it, with its
// control API.
type runningJob struct {
	c      *api.Client
	stderr *syncBuffer
}

func startRun(t *testing.T, ctx context.Context, cfgPath string) *runningJob {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	rj := &runningJob{c: api.NewClient(cfg.SocketPath(), ""), stderr: &syncBuffer{}}
	go func() {
		defer close(done)
		run(runCtx, &env{stdout: io.Discard, stderr: rj.stderr}, []string{"run", "--accept-new-host-key", "--config", cfgPath})
	}()
	t.Cleanup(func() {
		stop()
		<-done
	})
	return rj
}

// waitFor polls the job's status (the only view `ferry run` gives from
// outside) until ok holds, for at most a minute.
func (rj *runningJob) waitFor(t *testing.T, ctx context.Context, what string, ok func(agent.JobStatus) bool) agent.JobStatus {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last agent.JobStatus
	for time.Now().Before(deadline) {
		j, err := rj.c.Job(ctx, "j")
		if err == nil {
			if ok(j) {
				return j
			}
			last = j
		}
		time.Sleep(20 * time.Millisecond) // polling an outside view, not ordering
	}
	t.Fatalf("%s: not within a minute; last status %+v\nagent: %s", what, last, rj.stderr.String())
	return last
}

// passAfter is a condition: a pass that started after start has ended
// without error and the job is idle.
func passAfter(start time.Time) func(agent.JobStatus) bool {
	return func(j agent.JobStatus) bool {
		return j.Last != nil && j.Last.Start.After(start) && j.Last.Err == "" && j.State == agent.Idle
	}
}

// TestRunKeepsOneConnectionAcrossPasses: `ferry run` keeps a job's SSH
// connection to `ferry serve` between passes, so five passes make one TCP
// connection through a proxy that counts them; once the proxy cuts it, the
// next pass dials again and syncs.
func TestRunKeepsOneConnectionAcrossPasses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	proxy := startCountingProxy(t, fmt.Sprintf("127.0.0.1:%d", s.port))
	cfgPath := filepath.Join(s.dir, "jobs.yaml")
	write(t, cfgPath, fmt.Sprintf("state_dir: %s\njobs:\n  - name: j\n    local: %s\n    remote: ferry://tester@%s/docs\n    identity: %s\n    transport: tcp\n    direction: local-to-remote\n    interval: 1h\n    retry: {attempts: 5, interval: 200ms}\n",
		filepath.Join(s.dir, "state"), s.local, proxy.addr, s.identity))
	rj := startRun(t, ctx, cfgPath)
	j := rj.waitFor(t, ctx, "first pass", passAfter(time.Time{}))

	pass := func(name string) {
		t.Helper()
		write(t, filepath.Join(s.local, name), name)
		if _, err := rj.c.SyncNow(ctx, "j"); err != nil {
			t.Fatal(err)
		}
		j = rj.waitFor(t, ctx, "pass for "+name, func(st agent.JobStatus) bool {
			_, err := os.Stat(filepath.Join(s.served, name))
			return passAfter(j.Last.Start)(st) && err == nil
		})
	}
	for i := range 4 {
		pass(fmt.Sprintf("f%d.txt", i))
	}
	if n := proxy.accepted.Load(); n != 1 {
		t.Fatalf("5 passes made %d connections to the server, want 1", n)
	}

	proxy.cut()
	pass("after-cut.txt")
	if n := proxy.accepted.Load(); n != 2 {
		t.Fatalf("after the connection was cut, %d connections in all, want 2", n)
	}
	pass("again.txt")
	if n := proxy.accepted.Load(); n != 2 {
		t.Fatalf("the re-established connection was not kept: %d connections in all, want 2", n)
	}
}

// TestContinuousJobSeesServerChangeWithoutPolling: a continuous job with a
// ferry:// remote polls once an hour, yet a file written on the server's
// side reaches the local folder within seconds: `ferry serve` watches the
// folder and the job runs a pass on its notice.
func TestContinuousJobSeesServerChangeWithoutPolling(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	cfgPath := s.jobs(t, "    mode: continuous\n    direction: two-way\n    interval: 1h\n    rescan_interval: 2h\n    cooloff: 200ms\n")
	rj := startRun(t, ctx, cfgPath)
	// Armed: the next pass is the safety rescan, no poll.
	rj.waitFor(t, ctx, "the server's watch armed", func(j agent.JobStatus) bool {
		return passAfter(time.Time{})(j) && j.NextPass.After(time.Now().Add(90*time.Minute))
	})
	for i := range 3 {
		name := fmt.Sprintf("from-server-%d.txt", i)
		write(t, filepath.Join(s.served, name), name)
		start := time.Now()
		rj.waitFor(t, ctx, name+" reaching the local folder", func(agent.JobStatus) bool {
			b, err := os.ReadFile(filepath.Join(s.local, name))
			return err == nil && string(b) == name
		})
		t.Logf("%s arrived after %s", name, time.Since(start).Round(time.Millisecond))
	}
}
