package remote_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/transport/remote"
)

func TestUnknownHostKeyIsRefusedWithFingerprintAndFix(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.dial(func(o *remote.Options) { o.AcceptNewHostKey = false })
	if !errors.Is(err, remote.ErrUnknownHostKey) {
		t.Fatalf("dial to an unknown host: %v, want ErrUnknownHostKey", err)
	}
	fp := ssh.FingerprintSHA256(e.srv.HostKey())
	for _, want := range []string{fp, "ferry sync --accept-new-host-key --config /etc/ferry.yaml docs"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if b, _ := os.ReadFile(e.known); len(b) != 0 {
		t.Fatalf("refused key was recorded: %s", b)
	}
}

func TestAcceptNewHostKeyRecordsItAndPinsIt(t *testing.T) {
	e := newEnv(t, nil)
	ep := e.mustDial(nil)
	ep.Close()
	b, err := os.ReadFile(e.known)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, bytes.TrimSpace(ssh.MarshalAuthorizedKey(e.srv.HostKey()))) {
		t.Fatalf("known_hosts does not hold the server key:\n%s", b)
	}
	if fi, _ := os.Stat(e.known); fi.Mode().Perm() != 0o600 {
		t.Fatalf("known_hosts mode %v", fi.Mode().Perm())
	}
	// Now known: a dial without accept-new succeeds and adds nothing.
	ep = e.mustDial(func(o *remote.Options) { o.AcceptNewHostKey = false })
	ep.Close()
	again, _ := os.ReadFile(e.known)
	if !bytes.Equal(again, b) {
		t.Fatalf("known_hosts changed on a second connection:\n%s", again)
	}
}

func TestChangedHostKeyIsRefusedAndNeverOverwritten(t *testing.T) {
	e := newEnv(t, nil)
	e.mustDial(nil).Close()
	before, _ := os.ReadFile(e.known)
	// The server comes back with a new key (a reinstall, or an attacker).
	e.stop()
	if err := os.Remove(filepath.Join(e.dir, "host_key")); err != nil {
		t.Fatal(err)
	}
	e.start()
	_, err := e.dial(nil) // AcceptNewHostKey is set and must not matter
	if !errors.Is(err, remote.ErrHostKeyChanged) {
		t.Fatalf("dial after key change: %v, want ErrHostKeyChanged", err)
	}
	if !strings.Contains(err.Error(), ssh.FingerprintSHA256(e.srv.HostKey())) || !strings.Contains(err.Error(), "CHANGED") {
		t.Fatalf("error does not warn loudly with the new fingerprint: %v", err)
	}
	after, _ := os.ReadFile(e.known)
	if !bytes.Equal(before, after) {
		t.Fatalf("known_hosts was modified:\nbefore %s\nafter %s", before, after)
	}
}

func TestWrongClientKeyIsRejected(t *testing.T) {
	e := newEnv(t, nil)
	other := filepath.Join(t.TempDir(), "other_key")
	signer := writeKey(t, other)
	_, err := e.dial(func(o *remote.Options) { o.IdentityFile = other })
	if err == nil {
		t.Fatal("a key that is not authorized connected")
	}
	if errors.Is(err, remote.ErrUnknownHostKey) || errors.Is(err, remote.ErrHostKeyChanged) {
		t.Fatalf("rejection reported as a host key problem: %v", err)
	}
	if !strings.Contains(err.Error(), ssh.FingerprintSHA256(signer.PublicKey())) {
		t.Fatalf("error does not name the refused key: %v", err)
	}
}
