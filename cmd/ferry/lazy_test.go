package main

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/internal/demokit"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/transport/server"
)

// serveFolder runs a ferry server on 127.0.0.1 (no UDP) trusting the key
// in authorized and returns its address.
func serveFolder(t *testing.T, root, authorized string) string {
	t.Helper()
	srv, err := server.New(server.Config{Root: root, AuthorizedKeys: authorized,
		HostKeyPath: filepath.Join(t.TempDir(), "host_key")})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ln.Addr().String()
}

// TestSyncToRemoteFailsAsADialUpFrontWould: ferry sync connects to a
// ferry:// remote while it scans the local folder; an unknown or changed
// host key, a refused key and a refused connection must still fail with
// exactly the message, and exit code, of a connection made before the
// pass.
func TestSyncToRemoteFailsAsADialUpFrontWould(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	local, served := filepath.Join(dir, "local"), filepath.Join(dir, "served")
	for _, d := range []string{local, filepath.Join(served, "docs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(local, "a.txt"), "from local")
	key, other := filepath.Join(dir, "id_ed25519"), filepath.Join(dir, "other_key")
	authorized := filepath.Join(dir, "authorized_keys")
	if err := demokit.WriteKeys(key, authorized, "ferry demo"); err != nil {
		t.Fatal(err)
	}
	if err := demokit.WriteKeys(other, filepath.Join(dir, "other_authorized_keys"), "ferry demo"); err != nil {
		t.Fatal(err)
	}
	addr := serveFolder(t, served, authorized)
	// A port nothing listens on: listen, note it, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()
	// A port where something else answers: an HTTP server's refusal.
	web, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { web.Close() })
	go func() {
		for {
			c, err := web.Accept()
			if err != nil {
				return
			}
			// Read the client's SSH version line first, so the close is
			// an orderly one (EOF), never a reset.
			bufio.NewReader(c).ReadString('\n')
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
			c.Close()
		}
	}()

	jobs := func(name, addr, identity string) string {
		p := filepath.Join(dir, name+".yaml")
		write(t, p, "state_dir: "+filepath.Join(dir, "state-"+name)+"\njobs:\n  - name: j\n    local: "+local+
			"\n    remote: ferry://tester@"+addr+"/docs\n    identity: "+identity+"\n    direction: local-to-remote\n")
		return p
	}
	// upFront is the error of the dial the pass used to be preceded by.
	upFront := func(cfgPath string, accept bool) error {
		cfg, err := config.Load(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		job, _ := cfg.Job("j")
		ep, err := dialRemote(ctx, cfg, job, remoteOptions{acceptNewHostKey: accept})
		if err == nil {
			ep.Close()
		}
		return err
	}
	lastLine := func(s string) string {
		lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
		return lines[len(lines)-1]
	}
	cases := []struct {
		name, cfg string
		prepare   func(cfg string)
		want      string
	}{
		{"unknown host key", jobs("unknown", addr, key), nil, "unknown host key"},
		{"changed host key", jobs("changed", addr, key), func(cfg string) {
			// Another server's key on record for this address.
			other := serveFolder(t, served, authorized)
			if err := upFront(jobs("changed-seed", other, key), true); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dir, "state-changed-seed", "known_hosts"))
			if err != nil {
				t.Fatal(err)
			}
			_, otherPort, _ := net.SplitHostPort(other)
			_, port, _ := net.SplitHostPort(addr)
			rec := strings.ReplaceAll(string(b), "]:"+otherPort, "]:"+port)
			write(t, filepath.Join(dir, "state-changed", "known_hosts"), rec)
		}, "HAS CHANGED"},
		{"refused key", jobs("refused", addr, other), func(cfg string) {
			if err := upFront(cfg, true); err == nil {
				t.Fatal("a key the server does not list was accepted")
			}
		}, "refused key"},
		{"refused connection", jobs("closed", closedAddr, key), nil, "check that `ferry serve` runs on that host and listens on port"},
		{"not a ferry server", jobs("web", web.Addr().String(), key), nil, "the port answers, but not as a ferry server"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.prepare != nil {
				c.prepare(c.cfg)
			}
			want := upFront(c.cfg, false)
			if want == nil || !strings.Contains(want.Error(), c.want) {
				t.Fatalf("dial up front: %v, want an error with %q", want, c.want)
			}
			code, _, stderr := runCLI(t, ctx, "sync", "--config", c.cfg, "j")
			if code != exitError {
				t.Fatalf("exit %d, want %d: %s", code, exitError, stderr)
			}
			if got := lastLine(stderr); got != "ferry sync: "+want.Error() {
				t.Fatalf("ferry sync said\n%s\nwant\nferry sync: %s", got, want)
			}
		})
	}

	// The lazy open itself touches no network; connecting gives the
	// error a dial up front gives.
	closedCfg, err := config.Load(jobs("closed", closedAddr, key))
	if err != nil {
		t.Fatal(err)
	}
	closedJob, _ := closedCfg.Job("j")
	ep, err := dialRemote(ctx, closedCfg, closedJob, remoteOptions{lazy: true})
	if err != nil {
		t.Fatalf("lazy open of an unreachable remote: %v", err)
	}
	cerr := ep.(syncer.Connector).Connect(ctx)
	ep.Close()
	if want := upFront(jobs("closed", closedAddr, key), false); cerr == nil || cerr.Error() != want.Error() {
		t.Fatalf("Connect: %v, want %v", cerr, want)
	}

	// With --accept-new-host-key the lazy connection trusts the key and
	// the pass syncs.
	cfg := jobs("accept", addr, key)
	code, out, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j")
	if code != exitOK {
		t.Fatalf("sync --accept-new-host-key: exit %d: %s %s", code, out, stderr)
	}
	if got := read(t, filepath.Join(served, "docs", "a.txt")); got != "from local" {
		t.Fatalf("served a.txt = %q", got)
	}
	if code, _, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j"); code != exitOK {
		t.Fatalf("second sync with the recorded key: exit %d: %s", code, stderr)
	}
}
