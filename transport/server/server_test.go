package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/transport/control"
)

func TestUnknownKeyIsRejectedAndLoggedWithFingerprint(t *testing.T) {
	ts := startServer(t, nil)
	stranger, _ := keyPair(t, t.TempDir(), "stranger")
	if _, err := ts.sshClient(t, stranger); err == nil {
		t.Fatal("a key that is not authorized logged in")
	}
	fp := ssh.FingerprintSHA256(stranger.PublicKey())
	if !strings.Contains(ts.log.String(), fp) {
		t.Fatalf("log does not name the rejected key %s:\n%s", fp, ts.log.String())
	}
	if _, err := ts.sshClient(t, ts.signer); err != nil {
		t.Fatalf("the authorized key was refused: %v", err)
	}
}

func TestHostKeyIsCreatedPrivateAndReused(t *testing.T) {
	ts := startServer(t, nil)
	fi, err := os.Stat(filepath.Join(ts.dir, "host_key"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("host key mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := LoadOrCreateHostKey(filepath.Join(ts.dir, "host_key"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.PublicKey().Marshal(), ts.srv.HostKey().Marshal()) {
		t.Fatal("restarting made a new host key")
	}
}

func TestPreAuthTimeoutDropsSilentClients(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.PreAuthTimeout = 300 * time.Millisecond })
	// Taken before the dial: the server starts its timeout when it
	// accepts, which may be before Dial returns here.
	start := time.Now()
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The client says nothing; the server must hang up on its own. The
	// generous read deadline only keeps a broken server from hanging
	// the test.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("server kept a silent unauthenticated connection open")
	}
	if time.Since(start) < 300*time.Millisecond {
		t.Fatalf("server hung up after %v, before the pre-auth timeout", time.Since(start))
	}
}

func TestConnectionLimit(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxConnections = 2 })
	c1 := ts.hello(t, "")
	c2 := ts.hello(t, "")
	if _, err := ts.sshClient(t, ts.signer); err == nil {
		t.Fatal("a third connection was accepted with MaxConnections 2")
	}
	if !strings.Contains(ts.log.String(), "connection limit") {
		t.Fatalf("refusal not logged:\n%s", ts.log.String())
	}
	// The connections within the limit keep working, and a slot frees up
	// when one of them leaves.
	if _, err := rawCall(t, c2, control.FreeSpace{}); err != nil {
		t.Fatal(err)
	}
	c1.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c3, err := ts.sshClient(t, ts.signer)
		if err == nil {
			c3.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot after a client left: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUsersReachOnlyTheirOwnRoot(t *testing.T) {
	dir := t.TempDir()
	var users []User
	signers := map[string]ssh.Signer{}
	for _, name := range []string{"alice", "bob"} {
		root := filepath.Join(dir, name+"-root")
		if err := os.MkdirAll(filepath.Join(root, name+"-only"), 0o755); err != nil {
			t.Fatal(err)
		}
		s, line := keyPair(t, dir, name)
		ak := filepath.Join(dir, name+".keys")
		if err := os.WriteFile(ak, line, 0o600); err != nil {
			t.Fatal(err)
		}
		signers[name] = s
		users = append(users, User{Name: name, Root: root, AuthorizedKeys: ak, Rate: config.Rate(8_000_000)})
	}
	ts := startServer(t, func(c *Config) {
		c.Root, c.AuthorizedKeys = "", ""
		c.Users = users
		c.TotalRate = 4_000_000
	})
	for name, s := range signers {
		c, err := ts.sshClient(t, s)
		if err != nil {
			t.Fatal(err)
		}
		m, err := rawCall(t, c, control.Hello{Version: control.Version})
		if err != nil {
			t.Fatal(err)
		}
		w := m.(control.Welcome)
		if w.User != name || w.RateCap != 4_000_000 {
			t.Fatalf("%s got welcome %+v", name, w)
		}
		if _, err := rawCall(t, c, control.Stat{Path: name + "-only"}); err != nil {
			t.Fatalf("%s cannot see its own folder: %v", name, err)
		}
		other := map[string]string{"alice": "bob", "bob": "alice"}[name]
		if _, err := rawCall(t, c, control.Stat{Path: other + "-only"}); err == nil {
			t.Fatalf("%s sees %s's folder", name, other)
		}
	}
}

func TestConfigIsValidated(t *testing.T) {
	for name, c := range map[string]Config{
		"nothing":      {HostKeyPath: "k"},
		"no host key":  {Root: "/r", AuthorizedKeys: "a"},
		"root only":    {Root: "/r", HostKeyPath: "k"},
		"both modes":   {Root: "/r", AuthorizedKeys: "a", HostKeyPath: "k", Users: []User{{Name: "u", Root: "/r", AuthorizedKeys: "a"}}},
		"dup user":     {HostKeyPath: "k", Users: []User{{Name: "u", Root: "/r", AuthorizedKeys: "a"}, {Name: "u", Root: "/s", AuthorizedKeys: "a"}}},
		"bad udp port": {Root: "/r", AuthorizedKeys: "a", HostKeyPath: "k", UDPPort: 70000},
	} {
		if err := c.EnsureValid(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ok := Config{Root: "/r", AuthorizedKeys: "a", HostKeyPath: "k"}
	if err := ok.EnsureValid(); err != nil {
		t.Fatal(err)
	}
}
