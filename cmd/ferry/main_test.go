package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"time"

	"github.com/ferry-sync/ferry/syncer"
)

// TestMain lets the test binary stand in for the ferry binary: the demo
// re-executes os.Executable() as `ferry serve`.
func TestMain(m *testing.M) {
	if os.Getenv("FERRY_TEST_AS_MAIN") == "1" {
		main()
		return
	}
	os.Setenv("FERRY_TEST_AS_MAIN", "1")
	os.Exit(m.Run())
}

// syncBuffer is a bytes.Buffer safe for the agent's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runCLI(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var out, errb syncBuffer
	code := run(ctx, &env{stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

func write(t testing.TB, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// jobFixture writes a jobs file with one job between two local folders.
func jobFixture(t *testing.T, extra string) (cfgPath, local, remote string) {
	t.Helper()
	dir := t.TempDir()
	local, remote = filepath.Join(dir, "local"), filepath.Join(dir, "remote")
	for _, d := range []string{local, remote} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath = filepath.Join(dir, "jobs.yaml")
	write(t, cfgPath, "state_dir: "+filepath.Join(dir, "state")+"\njobs:\n  - name: j\n    local: "+local+
		"\n    remote: "+remote+"\n"+extra)
	return cfgPath, local, remote
}

func TestSyncExitCodes(t *testing.T) {
	ctx := context.Background()
	t.Run("ok", func(t *testing.T) {
		cfg, local, remote := jobFixture(t, "    direction: two-way\n")
		write(t, filepath.Join(local, "a.txt"), "from local")
		write(t, filepath.Join(remote, "b.txt"), "from remote")
		code, out, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j")
		if code != exitOK {
			t.Fatalf("exit %d, stderr %s", code, stderr)
		}
		if got := read(t, filepath.Join(remote, "a.txt")); got != "from local" {
			t.Errorf("remote a.txt = %q", got)
		}
		if got := read(t, filepath.Join(local, "b.txt")); got != "from remote" {
			t.Errorf("local b.txt = %q", got)
		}
		if !strings.Contains(out, "created 2, updated 0, deleted 0, conflicts 0") {
			t.Errorf("summary line missing: %s", out)
		}
	})
	t.Run("config error names file line and field", func(t *testing.T) {
		cfg, _, _ := jobFixture(t, "    direction: sideways\n")
		code, _, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j")
		if code != exitConfig {
			t.Fatalf("exit %d, want %d", code, exitConfig)
		}
		if !strings.Contains(stderr, "jobs.yaml:6: jobs[0].direction") {
			t.Errorf("error does not name file, line and field: %s", stderr)
		}
	})
	t.Run("halted on missing signature, nothing deleted", func(t *testing.T) {
		cfg, local, remote := jobFixture(t, "    direction: two-way\n    remote_signature: .sig\n")
		write(t, filepath.Join(remote, ".sig"), "")
		write(t, filepath.Join(local, "keep.txt"), "x")
		if code, _, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j"); code != exitOK {
			t.Fatalf("first pass: exit %d: %s", code, stderr)
		}
		// The share is "unmounted": empty, signature gone.
		if err := os.RemoveAll(remote); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(remote, 0o755); err != nil {
			t.Fatal(err)
		}
		code, out, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j")
		if code != exitHalted {
			t.Fatalf("exit %d, want %d; out %s err %s", code, exitHalted, out, stderr)
		}
		if read(t, filepath.Join(local, "keep.txt")) != "x" {
			t.Error("a halted pass changed the local side")
		}
		touch := "touch " + filepath.Join(remote, ".sig")
		if !strings.Contains(stderr, ".sig") || !strings.Contains(stderr, "  - ") {
			t.Errorf("halt message does not name the signature and the way on: %s", stderr)
		}
		if n := strings.Count(out+stderr, touch); n != 1 {
			t.Errorf("the halt's fix is printed %d times, want once:\n%s%s", n, out, stderr)
		}
	})
	t.Run("unknown job", func(t *testing.T) {
		cfg, _, _ := jobFixture(t, "")
		if code, _, _ := runCLI(t, ctx, "sync", "--config", cfg, "nope"); code != exitConfig {
			t.Fatalf("exit %d, want %d", code, exitConfig)
		}
	})
}

func TestMaxDeleteHaltsThenAllowDeletes(t *testing.T) {
	ctx := context.Background()
	cfg, local, remote := jobFixture(t, "    max_delete: 1\n")
	for _, n := range []string{"a", "b", "c"} {
		write(t, filepath.Join(remote, n), n)
	}
	if code, _, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	os.Remove(filepath.Join(remote, "a"))
	os.Remove(filepath.Join(remote, "b"))
	code, _, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j")
	if code != exitHalted || !strings.Contains(stderr, "--allow-deletes") {
		t.Fatalf("exit %d, stderr %s; want a halt naming --allow-deletes", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(local, "a")); err != nil {
		t.Fatal("halted pass deleted a local file")
	}
	if code, _, stderr := runCLI(t, ctx, "sync", "--allow-deletes", "--config", cfg, "j"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(local, "a")); !os.IsNotExist(err) {
		t.Fatal("--allow-deletes did not delete")
	}
}

func TestResetSyncConflictsResolve(t *testing.T) {
	ctx := context.Background()
	cfg, local, remote := jobFixture(t, "    direction: two-way\n    conflicts: manual\n")
	write(t, filepath.Join(local, "log.txt"), "mine")
	write(t, filepath.Join(remote, "log.txt"), "theirs")
	if code, _, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	code, out, _ := runCLI(t, ctx, "conflicts", "--config", cfg, "j")
	if code != exitOK || !strings.Contains(out, "log.txt") {
		t.Fatalf("conflicts: exit %d, out %s", code, out)
	}
	if code, _, stderr := runCLI(t, ctx, "resolve", "--config", cfg, "j", "log.txt"); code != exitOK {
		t.Fatalf("resolve: exit %d: %s", code, stderr)
	}
	if got := read(t, filepath.Join(local, "log.conflict-mine.txt")); got != "mine" {
		t.Errorf("conflict copy holds %q, want the local edit", got)
	}
	if got := read(t, filepath.Join(local, "log.txt")); got != "theirs" {
		t.Errorf("log.txt = %q, want the remote version", got)
	}
	if _, out, _ := runCLI(t, ctx, "conflicts", "--config", cfg, "j"); !strings.Contains(out, "no unresolved conflicts") {
		t.Errorf("conflict still listed after resolve: %s", out)
	}
	code, out, _ = runCLI(t, ctx, "reset-sync", "--config", cfg, "j")
	if code != exitOK || !strings.Contains(out, "cleared") {
		t.Fatalf("reset-sync: exit %d, out %s", code, out)
	}
	// After a reset, a file deleted on one side is not deleted on the other:
	// without an ancestor there are no deletions.
	os.Remove(filepath.Join(remote, "log.conflict-mine.txt"))
	if code, _, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if got := read(t, filepath.Join(remote, "log.conflict-mine.txt")); got != "mine" {
		t.Errorf("after reset-sync the file was not restored to the remote: %q", got)
	}
}

func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real ferry serve")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code, out, stderr := runCLI(t, ctx, "demo", "--big", "2", "--dir", t.TempDir())
	if code != exitOK {
		t.Fatalf("demo exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	for _, want := range []string{"log.conflict-mine.txt", "video/talk.bin", "halted", "created 0, updated 0, deleted 0, conflicts 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

func TestRunServesStatusAndStop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, local, remote := jobFixture(t, "    interval: 1h\n")
	write(t, filepath.Join(remote, "hello.txt"), "hi")
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		code, _, stderr := runCLI(t, runCtx, "run", "--config", cfg)
		if code != exitOK {
			t.Errorf("run exit %d: %s", code, stderr)
		}
		done <- code
	}()
	// The first interval pass runs at start.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(local, "hello.txt")); err == nil && string(b) == "hi" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent did not sync within 20 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, out, stderr := runCLI(t, ctx, "status", "--config", cfg)
	if code != exitOK || !strings.Contains(out, "j") || strings.Contains(out, "no agent is running") {
		t.Fatalf("status: exit %d out %s err %s", code, out, stderr)
	}
	code, out, stderr = runCLI(t, ctx, "stop", "--config", cfg, "j")
	if code != exitOK || !strings.Contains(out, "stopped") {
		t.Fatalf("stop: exit %d out %s err %s", code, out, stderr)
	}
	code, out, _ = runCLI(t, ctx, "resume", "--config", cfg, "j")
	if code != exitOK || strings.Contains(out, "stopped") {
		t.Fatalf("resume: exit %d out %s", code, out)
	}
	stop()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("run exited %d on shutdown, want 0", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not shut down within 20 s")
	}
	// With no agent, control commands say how to start one.
	code, _, stderr = runCLI(t, ctx, "stop", "--config", cfg, "j")
	if code == exitOK || !strings.Contains(stderr, "ferry run --config") {
		t.Fatalf("stop without an agent: exit %d, %s", code, stderr)
	}
}

// TestProgressLineKeepsHostileNameOnOneLine: a file name with a newline or
// an escape sequence must not split or repaint the plain progress log.
func TestProgressLineKeepsHostileNameOnOneLine(t *testing.T) {
	var out syncBuffer
	p := newProgressPrinter(&out, false)
	p.observe(syncer.Event{Phase: syncer.PhaseTransferring, Path: "evil\nfake line\x1b[31m", FileDone: true, FilesDone: 1, FilesTotal: 1})
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != 2 { // the phase line and the file line
		t.Fatalf("got %d lines, want 2:\n%q", len(lines), out.String())
	}
	if strings.ContainsAny(lines[1], "\x1b") || !strings.Contains(lines[1], "(1/1 files)") {
		t.Fatalf("file line not sanitised: %q", lines[1])
	}
}
