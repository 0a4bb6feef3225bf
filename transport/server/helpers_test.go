package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/transport/control"
)

// keyPair writes an ed25519 private key to dir/name and returns its signer
// and its authorized_keys line.
func keyPair(t testing.TB, dir, name string) (ssh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, ssh.MarshalAuthorizedKey(signer.PublicKey())
}

// syncBuffer is a log sink safe for the server's goroutines.
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

type testServer struct {
	srv    *Server
	addr   string
	log    *syncBuffer
	signer ssh.Signer // an authorized client key
	root   string
	dir    string
	cancel context.CancelFunc
	done   chan error
}

// startServer runs a single-root server on 127.0.0.1 with one authorized
// key; edit adjusts the config before start.
func startServer(t *testing.T, edit func(*Config)) *testServer {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	signer, line := keyPair(t, dir, "client_key")
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), line, 0o600); err != nil {
		t.Fatal(err)
	}
	logBuf := &syncBuffer{}
	cfg := Config{
		Root: root, AuthorizedKeys: filepath.Join(dir, "authorized_keys"),
		HostKeyPath: filepath.Join(dir, "host_key"), StateDir: filepath.Join(dir, "state"),
		Log: slog.New(slog.NewTextHandler(logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{srv: srv, addr: ln.Addr().String(), log: logBuf, signer: signer, root: root, dir: dir, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-ts.done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return ts
}

func (ts *testServer) sshClient(t *testing.T, signer ssh.Signer) (*ssh.Client, error) {
	t.Helper()
	return ts.sshClientAs(t, "tester", signer, nil)
}

// sshClientAs logs in as user; banner, if set, receives what the server
// says before authentication ends.
func (ts *testServer) sshClientAs(t *testing.T, user string, signer ssh.Signer, banner *string) (*ssh.Client, error) {
	t.Helper()
	cfg := &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(ts.srv.HostKey()),
		Timeout:         10 * time.Second,
		BannerCallback: func(msg string) error {
			if banner != nil {
				*banner += msg
			}
			return nil
		},
	}
	c, err := ssh.Dial("tcp", ts.addr, cfg)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// rawCall sends one request frame on a new channel and returns the first
// answer, with an Error answer turned into its error.
func rawCall(t *testing.T, c *ssh.Client, req control.Msg) (control.Msg, error) {
	t.Helper()
	ch, reqs, err := c.OpenChannel(control.ChannelType, control.Append(nil, req))
	if err != nil {
		return nil, err
	}
	go ssh.DiscardRequests(reqs)
	defer ch.Close()
	m, _, err := control.ReadFrame(ch, nil)
	if err != nil {
		return nil, err
	}
	if e, ok := m.(control.Error); ok {
		return nil, e.Err()
	}
	return m, nil
}

// hello opens the folder p on a fresh authenticated connection.
func (ts *testServer) hello(t *testing.T, p string) *ssh.Client {
	t.Helper()
	c, err := ts.sshClient(t, ts.signer)
	if err != nil {
		t.Fatal(err)
	}
	ch, reqs, err := c.OpenChannel(control.ChannelType, control.Append(nil, control.Hello{Version: control.Version, Path: p}))
	if err != nil {
		t.Fatalf("Hello %q: %v", p, err)
	}
	go ssh.DiscardRequests(reqs)
	defer ch.Close()
	m, _, err := control.ReadFrame(ch, nil)
	if err != nil {
		t.Fatalf("Hello %q: %v", p, err)
	}
	if _, ok := m.(control.Welcome); !ok {
		t.Fatalf("Hello answered with %T", m)
	}
	// The server closes the channel once the Hello's request slot is free
	// again; tests that count slots start after that.
	if _, err := io.Copy(io.Discard, ch); err != nil {
		t.Fatalf("Hello %q: waiting for the channel to close: %v", p, err)
	}
	return c
}
