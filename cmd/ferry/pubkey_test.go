package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestPublicKeyAsIdentityNamesThePrivateKey: a job whose identity: is the
// .pub file (a common slip) is told so, with the private key's path,
// instead of "ssh: no key found".
func TestPublicKeyAsIdentityNamesThePrivateKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	b, err := os.ReadFile(s.identity)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	pub := s.identity + ".pub"
	write(t, pub, string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	cfg := rewriteIdentity(t, s.jobs(t, "    direction: two-way\n"), s.identity, pub)

	code, out, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j")
	msg := out + stderr
	if code == exitOK || strings.Contains(msg, "no key found") ||
		!strings.Contains(msg, "identity "+pub+" is a public key") || !strings.Contains(msg, "set identity: "+s.identity) ||
		strings.Contains(msg, "does not exist") {
		t.Fatalf("identity: the .pub file: exit %d\n%s", code, msg)
	}

	// Only the .pub was copied here: say where the private key should be.
	lone := filepath.Join(t.TempDir(), "work_ed25519.pub")
	write(t, lone, string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	cfg = rewriteIdentity(t, cfg, pub, lone)
	code, out, stderr = runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j")
	msg = out + stderr
	if code == exitOK || !strings.Contains(msg, "set identity: "+strings.TrimSuffix(lone, ".pub")+" (it does not exist here") {
		t.Fatalf("identity: a .pub without its private key: exit %d\n%s", code, msg)
	}
	t.Logf("ferry sync says:\n%s", msg)
}
