package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferry-sync/ferry/internal/demokit"
	"github.com/ferry-sync/ferry/service/render"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
)

func newDemoCommand() *command {
	fs := pflag.NewFlagSet("demo", pflag.ContinueOnError)
	dir := fs.String("dir", "", "work in this directory and keep it (default: a temporary one, removed afterwards)")
	bigMiB := fs.Int("big", 16, "size in MiB of the large file the demo sends")
	return &command{
		name:    "demo",
		summary: "start a real `ferry serve` on loopback and sync sample folders two ways through it",
		usage:   "[--dir DIR] [--big MiB]",
		flags:   fs,
		run: func(ctx context.Context, e *env, args []string) error {
			d := *dir
			if d == "" {
				tmp, err := os.MkdirTemp("", "ferry-demo-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				d = tmp
			}
			return runDemo(ctx, e, d, *bigMiB)
		},
	}
}

// demoStep prints a heading.
func demoStep(e *env, format string, args ...any) {
	fmt.Fprintf(e.stdout, "\n== %s\n", fmt.Sprintf(format, args...))
}

func runDemo(ctx context.Context, e *env, dir string, bigMiB int) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	local := filepath.Join(dir, "workstation", "docs")
	srvRoot := filepath.Join(dir, "server")
	remote := filepath.Join(srvRoot, "docs")
	state := filepath.Join(dir, "state")
	for _, p := range []string{local, remote, state} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	}

	demoStep(e, "keys: a fresh ed25519 client key, authorized on the server")
	identity := filepath.Join(dir, "id_ed25519")
	authKeys := filepath.Join(dir, "authorized_keys")
	if err := demokit.WriteKeys(identity, authKeys, "ferry demo"); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "client key %s\nauthorized_keys %s\n", identity, authKeys)

	port, err := demokit.FreePort()
	if err != nil {
		return err
	}
	demoStep(e, "server: ferry serve on 127.0.0.1:%d (SSH control on TCP, data on UDP %d)", port, port)
	srv, err := startDemoServer(ctx, e, dir, srvRoot, authKeys, port)
	if err != nil {
		return err
	}
	defer srv.stop()

	// Sample content: some on each side, and one file both sides hold.
	files := map[string]string{
		filepath.Join(local, "report.txt"):         "Q3 report, draft 1\n",
		filepath.Join(local, "notes", "todo.md"):   "- ship ferry\n",
		filepath.Join(local, "log.txt"):            "started\n",
		filepath.Join(remote, "handbook.md"):       "# Team handbook\n",
		filepath.Join(remote, "specs", "api.md"):   "GET /jobs\n",
		filepath.Join(remote, "old-draft.txt"):     "obsolete\n",
		filepath.Join(local, ".ferry-signature"):   "",
		filepath.Join(remote, ".ferry-signature"):  "",
		filepath.Join(local, "scratch.tmp"):        "excluded\n",
		filepath.Join(local, "photos", "README"):   "photos go here\n",
		filepath.Join(remote, "photos", "cat.txt"): "=^.^=\n",
	}
	for p, c := range files {
		if err := writeFile(p, c); err != nil {
			return err
		}
	}
	cfgPath := filepath.Join(dir, "jobs.yaml")
	yaml := fmt.Sprintf(`state_dir: %s
jobs:
  - name: docs
    local: %s
    remote: ferry://demo@127.0.0.1:%d/docs
    direction: two-way
    identity: %s
    local_signature: .ferry-signature
    remote_signature: .ferry-signature
    exclude: ["*.tmp"]
    bandwidth: {policy: fair, target_rate: 400Mbps}
`, state, local, port, identity)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		return err
	}
	demoStep(e, "job: %s", cfgPath)
	fmt.Fprint(e.stdout, yaml)

	cfg, job, err := loadJob(cfgPath, "docs")
	if err != nil {
		return err
	}
	pass := func(title string, accept bool) error {
		demoStep(e, "%s", title)
		db, err := snapshot.Open(cfg.DBPath(job.Name))
		if err != nil {
			return err
		}
		defer db.Close()
		o, err := openJob(ctx, cfg, job, db, remoteOptions{acceptNewHostKey: accept})
		if err != nil {
			return err
		}
		defer o.Close()
		p := newProgressPrinter(e.stdout, e.isTTY)
		opts := o.options(cfgPath, job, db)
		opts.Observer = p.observe
		rec, err := syncer.Pass(ctx, opts)
		p.finish()
		fmt.Fprintln(e.stdout, summary(rec))
		if s := transportSummary(o.remote); s != "" {
			fmt.Fprintln(e.stdout, s)
		}
		return err
	}

	if err := pass("pass 1: first contact (host key recorded, like ssh's accept-new), initial two-way merge", true); err != nil {
		return err
	}
	showTrees(e, local, remote)

	// Changes on both sides, and a conflict.
	big := filepath.Join(local, "video", "talk.bin")
	if err := writeRandom(big, int64(bigMiB)<<20); err != nil {
		return err
	}
	steps := []error{
		writeFile(filepath.Join(local, "report.txt"), "Q3 report, draft 2 (local edit)\n"),
		writeFile(filepath.Join(remote, "handbook.md"), "# Team handbook\n\nv2, edited on the server\n"),
		os.Remove(filepath.Join(remote, "old-draft.txt")),
		writeFile(filepath.Join(local, "log.txt"), "started\nlocal line\n"),
		writeFile(filepath.Join(remote, "log.txt"), "started\nserver line\n"),
	}
	if err := errors.Join(steps...); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nedited report.txt locally, added video/talk.bin (%d MiB) locally,\n", bigMiB)
	fmt.Fprintln(e.stdout, "edited handbook.md and deleted old-draft.txt on the server, and edited log.txt on BOTH sides")
	if err := pass("pass 2: changes flow both ways; log.txt is a conflict", false); err != nil {
		return err
	}
	showTrees(e, local, remote)
	db, err := snapshot.Open(cfg.DBPath(job.Name))
	if err != nil {
		return err
	}
	recs, err := db.Conflicts()
	db.Close()
	if err != nil {
		return err
	}
	demoStep(e, "ferry conflicts --config %s docs", cfgPath)
	printConflicts(e, recs)
	mine, _ := os.ReadFile(filepath.Join(local, "log.conflict-mine.txt"))
	theirs, _ := os.ReadFile(filepath.Join(local, "log.txt"))
	fmt.Fprintf(e.stdout, "\nlog.txt now holds the server's version %q;\nthe local edit is kept as log.conflict-mine.txt %q — nothing was overwritten unseen.\n", theirs, mine)

	if err := pass("pass 3: nothing changed, nothing moves", false); err != nil {
		return err
	}

	demoStep(e, "safety: the server's signature file goes missing (an unmounted share looks like this)")
	if err := os.Remove(filepath.Join(remote, ".ferry-signature")); err != nil {
		return err
	}
	err = pass("pass 4: halts before touching anything", false)
	var halt *syncer.HaltError
	if !errors.As(err, &halt) {
		return fmt.Errorf("the demo expected a halt, got %v", err)
	}
	fmt.Fprintf(e.stdout, "halted (exit code 3 for `ferry sync`): %s", render.HaltNote(halt.Job, halt.Reason(), halt.Fix()))
	demoStep(e, "done; try `ferry sync`, `ferry run` and `ferry status` with the same kind of jobs file (see README.md)")
	return nil
}

func writeFile(p, content string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(content), 0o644)
}

func writeRandom(p string, size int64) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	for n := int64(0); n < size; n += int64(len(buf)) {
		rand.Read(buf)
		if _, err := f.Write(buf[:min(int64(len(buf)), size-n)]); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// showTrees prints both folders side by side, sizes included.
func showTrees(e *env, local, remote string) {
	list := func(root string) map[string]string {
		out := map[string]string{}
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == root {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			if d.IsDir() {
				out[rel+"/"] = ""
				return nil
			}
			if info, err := d.Info(); err == nil {
				out[rel] = render.Size(info.Size())
			}
			return nil
		})
		return out
	}
	l, r := list(local), list(remote)
	names := map[string]bool{}
	for k := range l {
		names[k] = true
	}
	for k := range r {
		names[k] = true
	}
	sorted := make([]string, 0, len(names))
	for k := range names {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	fmt.Fprintf(e.stdout, "%-34s %-10s %-10s\n", "path", "local", "server")
	for _, k := range sorted {
		cell := func(m map[string]string) string {
			v, ok := m[k]
			switch {
			case !ok:
				return "-"
			case strings.HasSuffix(k, "/"):
				return "dir"
			}
			return v
		}
		fmt.Fprintf(e.stdout, "%-34s %-10s %-10s\n", k, cell(l), cell(r))
	}
}

type demoServer struct {
	cmd  *exec.Cmd
	done chan error
}

// startDemoServer runs this same binary as `ferry serve` and waits until it
// accepts connections.
func startDemoServer(ctx context.Context, e *env, dir, root, authKeys string, port int) (*demoServer, error) {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	fmt.Fprintf(e.stdout, "$ ferry serve --listen %s --root %s --authorized-keys %s\n", addr, root, authKeys)
	return startServeProcess(ctx, dir, addr, 10*time.Second, "--root", root, "--authorized-keys", authKeys)
}

// startServeProcess runs this same binary as `ferry serve --listen addr`
// with args, its host key, state and log (serve.log) in dir, and waits at
// most wait until it accepts connections.
func startServeProcess(ctx context.Context, dir, addr string, wait time.Duration, args ...string) (*demoServer, error) {
	bin, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "serve.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args = append([]string{"serve", "--listen", addr}, args...)
	args = append(args, "--host-key", filepath.Join(dir, "host_ed25519"), "--state-dir", filepath.Join(dir, "serve-state"))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s := &demoServer{cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case err := <-s.done:
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("ferry serve exited (%v):\n%s", err, b)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	s.stop()
	return nil, fmt.Errorf("ferry serve did not start listening on %s within %v; see %s", addr, wait, logPath)
}

func (s *demoServer) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}
