package server

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// TestAuthorizedKeyOptionsAreHonoured: from= and expiry-time= decide who
// may log in; a line with an option ferry cannot honour lets no one in and
// is logged once, at load, with its file, line and fingerprint.
func TestAuthorizedKeyOptionsAreHonoured(t *testing.T) {
	dir := t.TempDir()
	far, farLine := keyPair(t, dir, "far")
	near, nearLine := keyPair(t, dir, "near")
	expiring, expLine := keyPair(t, dir, "expiring")
	forced, forcedLine := keyPair(t, dir, "forced")
	ak := filepath.Join(dir, "keys")
	content := `from="10.9.9.9" ` + string(farLine) +
		`restrict,from="127.0.0.0/8,!127.0.0.2" ` + string(nearLine) +
		`expiry-time="20300101Z",no-pty ` + string(expLine) +
		`command="/usr/bin/rsync --server" ` + strings.TrimSpace(string(forcedLine)) + " backup@laptop\n"
	if err := os.WriteFile(ak, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2029, 12, 31, 23, 0, 0, 0, time.UTC)}
	ts := startServer(t, func(c *Config) {
		c.AuthorizedKeys = ak
		c.Clock = clock
	})
	if _, err := ts.sshClient(t, far); err == nil {
		t.Error(`a key with from="10.9.9.9" logged in from 127.0.0.1`)
	}
	if _, err := ts.sshClient(t, near); err != nil {
		t.Errorf("a key with from=127.0.0.0/8 was refused from 127.0.0.1: %v", err)
	}
	if _, err := ts.sshClient(t, expiring); err != nil {
		t.Errorf("a key before its expiry-time was refused: %v", err)
	}
	clock.set(time.Date(2030, 1, 1, 0, 0, 1, 0, time.UTC))
	if _, err := ts.sshClient(t, expiring); err == nil {
		t.Error("an expired key logged in")
	}
	var banner string
	if _, err := ts.sshClientAs(t, "tester", forced, &banner); err == nil {
		t.Error("a key with command= logged in")
	}
	if _, err := ts.sshClient(t, forced); err == nil {
		t.Error("a key with command= logged in")
	}
	if !strings.Contains(banner, "option ferry cannot honour") || strings.Contains(banner, ak) {
		t.Errorf("the key's holder is told %q: want the reason, without the server's file names", banner)
	}
	log := ts.log.String()
	loaded := "authorized key refused: its options ask for what ferry cannot honour"
	if n := strings.Count(log, loaded); n != 1 {
		t.Errorf("the refused line is logged %d times, want once at load:\n%s", n, log)
	}
	for _, want := range []string{ak + ":4", ssh.FingerprintSHA256(forced.PublicKey()), "backup@laptop", "command= is not supported",
		`from=\"10.9.9.9\" does not allow 127.0.0.1`, ak + ":1", "expired at 2030-01-01T00:00:00Z"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// TestSSHUserNamesTheAccount: with users, alice's key logs in as alice
// only; as bob (or as a user that does not exist) it is refused, and the
// refusal, sent only once the client proved it holds the key, names both.
func TestSSHUserNamesTheAccount(t *testing.T) {
	dir := t.TempDir()
	var users []User
	signers := map[string]ssh.Signer{}
	for _, name := range []string{"alice", "bob"} {
		root := filepath.Join(dir, name)
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		s, line := keyPair(t, dir, name+"_key")
		ak := filepath.Join(dir, name+".keys")
		if err := os.WriteFile(ak, line, 0o600); err != nil {
			t.Fatal(err)
		}
		signers[name] = s
		users = append(users, User{Name: name, Root: root, AuthorizedKeys: ak})
	}
	ts := startServer(t, func(c *Config) {
		c.Root, c.AuthorizedKeys = "", ""
		c.Users = users
	})
	alice := signers["alice"]
	fp := ssh.FingerprintSHA256(alice.PublicKey())
	if _, err := ts.sshClientAs(t, "alice", alice, nil); err != nil {
		t.Fatalf("alice's key as alice: %v", err)
	}
	for user, want := range map[string][]string{
		"bob":   {`user "bob"`, `belongs to user "alice"`, fp},
		"carol": {`no user "carol"`, `user "alice"`, fp},
	} {
		var banner string
		if _, err := ts.sshClientAs(t, user, alice, &banner); err == nil {
			t.Errorf("alice's key logged in as %s", user)
		}
		for _, w := range want {
			if !strings.Contains(banner, w) {
				t.Errorf("as %s the client is told %q; want it to name %q", user, banner, w)
			}
		}
	}
	// Whoever has only alice's public key (and so cannot sign) learns
	// nothing about whose key it is.
	var banner string
	if _, err := ts.sshClientAs(t, "bob", publicOnly{alice}, &banner); err == nil {
		t.Fatal("a client that cannot sign logged in")
	}
	if banner != "" {
		t.Errorf("a client without the private key was told %q", banner)
	}
	if _, err := ts.sshClientAs(t, "bob", signers["bob"], nil); err != nil {
		t.Fatalf("bob's key as bob: %v", err)
	}
}

// publicOnly offers a public key it cannot sign with.
type publicOnly struct{ ssh.Signer }

func (publicOnly) Sign(io.Reader, []byte) (*ssh.Signature, error) {
	return nil, errors.New("no private key")
}

type fakeMeta struct {
	user   string
	remote net.Addr
}

func (m fakeMeta) User() string          { return m.user }
func (m fakeMeta) SessionID() []byte     { return nil }
func (m fakeMeta) ClientVersion() []byte { return nil }
func (m fakeMeta) ServerVersion() []byte { return nil }
func (m fakeMeta) RemoteAddr() net.Addr  { return m.remote }
func (m fakeMeta) LocalAddr() net.Addr   { return m.remote }

// TestNoTouchRequiredReachesTheSSHLibrary: the SSH library checks a
// security key's touch unless the Permissions say no-touch-required.
func TestNoTouchRequiredReachesTheSSHLibrary(t *testing.T) {
	dir := t.TempDir()
	touch, touchLine := keyPair(t, dir, "touch")
	noTouch, noTouchLine := keyPair(t, dir, "notouch")
	ak := filepath.Join(dir, "keys")
	if err := os.WriteFile(ak, []byte(string(touchLine)+"no-touch-required "+string(noTouchLine)), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(c *Config) { c.AuthorizedKeys = ak })
	meta := fakeMeta{user: "x", remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}}
	for signer, want := range map[ssh.Signer]bool{touch: false, noTouch: true} {
		perms, err := ts.srv.checkKey(meta, signer.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		if _, got := perms.Extensions[extNoTouch]; got != want {
			t.Errorf("no-touch-required in the permissions: %v, want %v", got, want)
		}
	}
}
