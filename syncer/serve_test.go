package syncer_test

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
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/localfs"
	"github.com/ferry-sync/ferry/transport/data"
	"github.com/ferry-sync/ferry/transport/remote"
	"github.com/ferry-sync/ferry/transport/server"

	"github.com/ferry-sync/ferry/versions"
)

// served is a real `ferry serve` (transport/server) on 127.0.0.1 serving
// one folder, reached with remote.Dial and real ed25519 keys: a ferry://
// remote in process.
type served struct {
	t         testing.TB
	root      string
	dir       string
	addr      string
	mode      config.TransportMode
	clientKey string
	known     string
	log       *syncLog
	// opened is the clock (unix ns) the server's folder is opened with:
	// the scenario's time when the client dials, as a local folder gets.
	opened atomic.Int64
	// stop ends the running server and waits for it (nil: not running).
	stop func()
}

// serve starts a server on root; mode is the data path clients ask for
// (config.UDP also gives the server a UDP socket). It stops when t ends.
func serve(t testing.TB, root string, mode config.TransportMode) *served {
	t.Helper()
	dir := t.TempDir()
	s := &served{t: t, root: root, dir: dir, mode: mode, clientKey: filepath.Join(dir, "id_ed25519"),
		known: filepath.Join(dir, "known_hosts"), log: &syncLog{}}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.clientKey, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start()
	t.Cleanup(func() {
		s.quiesce()
		if t.Failed() {
			t.Logf("ferry serve and client log:\n%s", s.log)
		}
	})
	return s
}

// start starts the server (again, after quiesce: the same keys, another
// port).
func (s *served) start() {
	s.t.Helper()
	cfg := server.Config{
		Root: s.root, AuthorizedKeys: filepath.Join(s.dir, "authorized_keys"), HostKeyPath: filepath.Join(s.dir, "host_key"),
		Log: slog.New(slog.NewTextHandler(s.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		// As ferry serve opens a folder, without the scan cache (the
		// local side has none either), on the scenario's clock.
		Open: func(dir, partialSuffix string, _ server.Cache, _ *versions.Store, log *slog.Logger) (endpoint.Endpoint, error) {
			opened := time.Unix(0, s.opened.Load()).UTC()
			return localfs.New(dir, localfs.Options{Log: log, PartialSuffix: partialSuffix, HashWorkers: 2,
				Now: func() time.Time { return opened }})
		},
	}
	if s.mode == config.UDP {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			s.t.Fatal(err)
		}
		// Buffers as ferry serve's own socket gets them (data.Listen).
		data.TuneBuffers(pc.(*net.UDPConn), data.SocketBuffer, nil)
		cfg.UDPConn = pc
	}
	srv, err := server.New(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	s.stop = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				s.t.Errorf("Serve: %v", err)
			}
		case <-time.After(time.Minute): // a safety net for a hung server
			s.t.Error("ferry serve did not stop")
		}
		if pc := cfg.UDPConn; pc != nil {
			pc.Close()
		}
	}
}

// quiesce stops the server and waits for every request it took to end,
// so that nothing it does is still under way in its folder: a pass that
// halts on one side may end while the other side's request (the folding
// probe, which writes a temporary file in the folder) still runs on the
// server, and a dump of the folder then listed the probe, or failed when
// the probe went between its listing and its lstat. The next dial starts
// the server again.
func (s *served) quiesce() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
}

// dial connects to the served folder as the job's ferry:// remote would,
// the server's folder opened at the scenario time opened.
func (s *served) dial(job config.Job, opened time.Time) *remote.Endpoint {
	s.t.Helper()
	if s.stop == nil {
		s.start()
	}
	s.opened.Store(opened.UnixNano())
	host, port, _ := net.SplitHostPort(s.addr)
	p, _ := strconv.Atoi(port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ep, err := remote.Dial(ctx, remote.Options{
		User: "tester", Host: host, Port: p,
		IdentityFile: s.clientKey, KnownHostsFile: s.known, AcceptNewHostKey: true,
		Transport: s.mode, Direction: job.Direction, PartialSuffix: job.PartialSuffix,
		Job: job.Name, ConfigFile: "ferry.yaml",
		Log: slog.New(slog.NewTextHandler(s.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		s.t.Fatalf("unable to dial ferry serve: %v", err)
	}
	return ep
}

// syncLog is a log sink safe for the server's goroutines.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
