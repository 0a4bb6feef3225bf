package remote_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/endpoint/endpointtest"
	"github.com/ferry-sync/ferry/localfs"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/transport/remote"
	"github.com/ferry-sync/ferry/transport/server"
	"github.com/ferry-sync/ferry/tree"

	"github.com/ferry-sync/ferry/versions"
)

// crashStepEnv asks the server process (see serveForTest) to kill itself
// with SIGKILL when a Commit of its folder reaches that localfs.CommitStep.
const crashStepEnv = "FERRY_TEST_CRASH_STEP"

// udpEnv asks the server process to serve data sessions over UDP.
const udpEnv = "FERRY_TEST_UDP"

// crashingOpener serves folders as the server does by default, with a
// failpoint at step that kills the process.
func crashingOpener(step string) server.Opener {
	n, err := strconv.Atoi(step)
	if err != nil {
		panic(fmt.Sprintf("%s=%q: %v", crashStepEnv, step, err))
	}
	return func(dir, partialSuffix string, cache server.Cache, _ *versions.Store, log *slog.Logger) (endpoint.Endpoint, error) {
		opts := localfs.Options{Log: log, PartialSuffix: partialSuffix, Failpoint: func(s localfs.CommitStep, _ string) {
			if s == localfs.CommitStep(n) {
				killSelf()
				select {} // the signal is on its way
			}
		}}
		if cache != nil {
			opts.Cache = cache
		}
		return localfs.New(dir, opts)
	}
}

// TestKillServerAtEveryCommitStep: a ferry serve killed inside the commit
// of an upload could leave a complete NAME.partial without ferry's mark,
// and every later pass skipped NAME as changed. The server process is
// killed (SIGKILL) at each step of a Commit in turn; restarted, the next
// pass brings every path in sync.
func TestKillServerAtEveryCommitStep(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two server processes per commit step")
	}
	files := endpointtest.Dir{
		"a.txt":     "content of a",
		"sub/b.bin": strings.Repeat("0123456789abcdef", 1<<14),
		"sub/" + strings.Repeat("l", tree.MaxNameLen-4) + ".txt": "a long name",
	}
	for _, mode := range []config.TransportMode{config.TCP, config.UDP} {
		for step := localfs.CommitSized; step <= localfs.CommitUnmarked; step++ {
			t.Run(string(mode)+"/"+step.String(), func(t *testing.T) {
				killServerAt(t, mode, step, files)
			})
		}
	}
}

func killServerAt(t *testing.T, mode config.TransportMode, step localfs.CommitStep, files endpointtest.Dir) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := t.TempDir()
	endpointtest.Build(t, src, files)
	dir, root, pass := crashJob(t, ctx, mode, src)

	var env []string
	if mode == config.UDP {
		env = append(env, udpEnv+"=1")
	}
	cmd, addr := serverProcess(t, dir, "127.0.0.1:0", append(env, crashStepEnv+"="+strconv.Itoa(int(step)))...)
	rec, err := pass(addr)
	cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("server was not killed at %s (pass: %+v, %v)", step, rec, err)
	}
	t.Logf("killed at %s; the pass: %v", step, err)

	serverProcess(t, dir, addr, env...)
	rec, err = pass(addr)
	if err != nil || rec.Skipped != 0 || rec.Problems != 0 {
		t.Fatalf("pass after the crash at %s: %v, %+v", step, err, rec)
	}
	for p, c := range files {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil || string(b) != c.(string) {
			t.Fatalf("after the crash at %s and a pass, %s: %v (%d bytes, want %d)", step, p, err, len(b), len(c.(string)))
		}
	}
}

// crashJob sets up a local-to-remote job from src to a server process's
// root (server keys in dir, the job's snapshot in dir/state) and returns
// dir, the root and a pass against the server at an address.
func crashJob(t *testing.T, ctx context.Context, mode config.TransportMode, src string) (dir, root string, pass func(addr string) (snapshot.PassRecord, error)) {
	t.Helper()
	dir = t.TempDir()
	root = filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	signer := writeKey(t, filepath.Join(dir, "id_ed25519"))
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := snapshot.Open(filepath.Join(dir, "state", "job.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	job := config.Job{Name: "crash", Local: src, Remote: "ferry://tester@host/", Direction: config.LocalToRemote, Conflicts: config.Rename}
	pass = func(addr string) (snapshot.PassRecord, error) {
		host, portS, _ := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(portS)
		ep, err := remote.Dial(ctx, remote.Options{
			User: "tester", Host: host, Port: port, IdentityFile: filepath.Join(dir, "id_ed25519"),
			KnownHostsFile: filepath.Join(dir, "known_hosts"), AcceptNewHostKey: true, Transport: mode,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer ep.Close()
		return syncer.Pass(ctx, syncer.Options{Job: job, Local: local(t, src), Remote: ep, DB: db})
	}
	return dir, root, pass
}
