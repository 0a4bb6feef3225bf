package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
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

func startRun(t testing.TB, ctx context.Context, cfgPath string, args ...string) *runningJob {
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
		run(runCtx, &env{stdout: io.Discard, stderr: rj.stderr}, append([]string{"run", "--accept-new-host-key", "--config", cfgPath}, args...))
	}()
	t.Cleanup(func() {
		stop()
		<-done
	})
	return rj
}

// waitFor polls the job's status (the only view `ferry run` gives from
// outside) until ok holds, for at most a minute.
func (rj *runningJob) waitFor(t testing.TB, ctx context.Context, what string, ok func(agent.JobStatus) bool) agent.JobStatus {
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
		t.Fatalf("after the connection was cut, %d connections in all, want 2\nagent: %s", n, rj.stderr.String())
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

// BenchmarkContinuousLatencyThroughServe measures write-to-arrival of a
// small file through `ferry run` and a `ferry serve` on loopback, written
// on the server's side (the server's watch) and on the local side (the
// agent's), with cooloff 1s. Run with -benchtime=20x.
func BenchmarkContinuousLatencyThroughServe(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s := startServedJob(b, ctx)
	cfgPath := s.jobs(b, "    mode: continuous\n    direction: two-way\n    interval: 1h\n    rescan_interval: 2h\n    cooloff: 1s\n")
	rj := startRun(b, ctx, cfgPath)
	rj.waitFor(b, ctx, "the server's watch armed", func(j agent.JobStatus) bool {
		return passAfter(time.Time{})(j) && j.NextPass.After(time.Now().Add(90*time.Minute))
	})
	for _, way := range []struct{ name, from, to string }{
		{"server-to-local", s.served, s.local},
		{"local-to-server", s.local, s.served},
	} {
		b.Run(way.name, func(b *testing.B) {
			var lat []time.Duration
			for i := 0; b.Loop(); i++ {
				name := fmt.Sprintf("%s-%d.txt", way.name, i)
				start := time.Now()
				write(b, filepath.Join(way.from, name), name)
				lat = append(lat, arrival(b, filepath.Join(way.to, name), name, start))
				// The pass that brought it must be over before the next
				// write, as a person's next edit would be.
				rj.waitFor(b, ctx, "idle", func(j agent.JobStatus) bool { return j.State == agent.Idle })
			}
			slices.Sort(lat)
			pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
			b.ReportMetric(pct(0.5), "p50_ms")
			b.ReportMetric(pct(0.9), "p90_ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// arrival waits (at most 20 s) for path to hold want and returns how long
// after since it did.
func arrival(b testing.TB, path, want string, since time.Time) time.Duration {
	b.Helper()
	for time.Since(since) < 20*time.Second {
		if got, err := os.ReadFile(path); err == nil && string(got) == want {
			return time.Since(since)
		}
		time.Sleep(2 * time.Millisecond) // polling an outside view, not ordering
	}
	b.Fatalf("%s did not arrive within 20s", path)
	return 0
}
