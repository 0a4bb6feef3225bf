package cryptfs

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/crypt"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/endpoint/endpointtest"
	"github.com/ferry-sync/ferry/localfs"
	"github.com/ferry-sync/ferry/transport/remote"
	"github.com/ferry-sync/ferry/transport/server"
)

// TestBatchConformance runs the suite's batch cases over an encrypted
// ferry:// remote (BatchFS over a real `ferry serve` on loopback), with
// encrypted names and with names: plain.
func TestBatchConformance(t *testing.T) {
	for _, plain := range []bool{false, true} {
		name := "EncryptedNames"
		if plain {
			name = "PlainNames"
		}
		t.Run(name, func(t *testing.T) {
			endpointtest.RunBatchBacking(t, func(t *testing.T) (endpoint.Endpoint, endpointtest.Backing) {
				r, root := serveFolder(t)
				h, k, err := crypt.NewHeaderWithKDF([]byte("pw"), rand.Reader, cheapKDF)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(root, crypt.HeaderName), h.Marshal(), 0o600); err != nil {
					t.Fatal(err)
				}
				f, err := NewBatch(r, r, Options{Passphrase: []byte("pw"), PlainNames: plain, TempDir: t.TempDir(),
					StateFile: filepath.Join(t.TempDir(), "crypt.db"), Connect: r.Connect})
				if err != nil {
					t.Fatal(err)
				}
				return f, &cipherBacking{root: root, k: k, plainNames: plain}
			}, func(t *testing.T, root string) endpoint.Endpoint {
				l, err := localfs.New(root, localfs.Options{})
				if err != nil {
					t.Fatal(err)
				}
				return l
			})
		})
	}
}

// serveFolder runs a real `ferry serve` on 127.0.0.1 over a new folder,
// trusting a new ed25519 client key, and dials it.
func serveFolder(t *testing.T) (*remote.Endpoint, string) {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	auth := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(auth, ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	srv, err := server.New(server.Config{Root: root, AuthorizedKeys: auth, HostKeyPath: filepath.Join(dir, "host_key"),
		StateDir: filepath.Join(dir, "server-state"), Log: log})
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
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer dcancel()
	r, err := remote.Dial(dctx, remote.Options{User: "tester", Host: host, Port: p, IdentityFile: keyFile,
		KnownHostsFile: filepath.Join(dir, "known_hosts"), AcceptNewHostKey: true, Transport: config.TCP,
		Job: "docs", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	return r, root
}
