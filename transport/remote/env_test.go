package remote_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/transport/data"
	"github.com/ferry-sync/ferry/transport/remote"
	"github.com/ferry-sync/ferry/transport/server"
)

func writeKey(t testing.TB, path string) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type logSink struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a real `ferry serve` on 127.0.0.1 with a client key it trusts.
type env struct {
	t         testing.TB
	dir       string
	root      string // the served root
	cfg       server.Config
	addr      string // fixed across restarts
	srv       *server.Server
	cancel    context.CancelFunc
	done      chan error
	clientKey string
	known     string
	log       *logSink
	udp       bool   // serve UDP data sessions
	udpAddr   string // fixed across restarts
}

func newEnv(t testing.TB, edit func(*server.Config)) *env {
	t.Helper()
	return newEnvUDP(t, false, edit)
}

func newEnvUDP(t testing.TB, udp bool, edit func(*server.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, root: filepath.Join(dir, "root"), clientKey: filepath.Join(dir, "id_ed25519"),
		known: filepath.Join(dir, "state", "known_hosts"), log: &logSink{}, udp: udp}
	if err := os.Mkdir(e.root, 0o755); err != nil {
		t.Fatal(err)
	}
	signer := writeKey(t, e.clientKey)
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	e.cfg = server.Config{
		Root: e.root, AuthorizedKeys: filepath.Join(dir, "authorized_keys"),
		HostKeyPath: filepath.Join(dir, "host_key"), StateDir: filepath.Join(dir, "server-state"),
		Log: slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&e.cfg)
	}
	e.start()
	t.Cleanup(e.stop)
	return e
}

// start runs the server, on the same address as before after a stop.
func (e *env) start() {
	e.t.Helper()
	srv, err := server.New(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	addr := e.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	for i := 0; ; i++ {
		ln, err = net.Listen("tcp", addr)
		if err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond) // the old socket may linger briefly
	}
	if err != nil {
		e.t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	if e.udp {
		ua := e.udpAddr
		if ua == "" {
			ua = "127.0.0.1:0"
		}
		var pc net.PacketConn
		for i := 0; ; i++ {
			pc, err = net.ListenPacket("udp", ua)
			if err == nil || i == 50 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			e.t.Fatal(err)
		}
		// Buffers as ferry serve's own socket gets them (data.Listen).
		data.TuneBuffers(pc.(*net.UDPConn), data.SocketBuffer, nil)
		e.udpAddr = pc.LocalAddr().String()
		srv, err = server.New(withUDP(e.cfg, pc))
		if err != nil {
			e.t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.srv, e.cancel, e.done = srv, cancel, make(chan error, 1)
	go func() { e.done <- srv.Serve(ctx, ln) }()
}

// stop kills the server: listener and every connection close at once.
func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		e.t.Error("server did not stop")
	}
	e.cancel = nil
}

func (e *env) options() remote.Options {
	host, port, _ := net.SplitHostPort(e.addr)
	p, _ := strconv.Atoi(port)
	return remote.Options{
		User: "tester", Host: host, Port: p,
		IdentityFile: e.clientKey, KnownHostsFile: e.known, AcceptNewHostKey: true,
		Transport: config.TCP, Job: "docs", ConfigFile: "/etc/ferry.yaml",
		Log: slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func (e *env) dial(edit func(*remote.Options)) (*remote.Endpoint, error) {
	o := e.options()
	if edit != nil {
		edit(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return remote.Dial(ctx, o)
}

func (e *env) mustDial(edit func(*remote.Options)) *remote.Endpoint {
	e.t.Helper()
	ep, err := e.dial(edit)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { ep.Close() })
	return ep
}

func withUDP(c server.Config, pc net.PacketConn) server.Config {
	c.UDPConn = pc
	return c
}
