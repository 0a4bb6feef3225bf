package main

import (
	"bufio"
	"context"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// startSSHAgent runs a real OpenSSH ssh-agent on a socket of its own and
// returns the socket. With keys, it holds them, added as ssh-add would.
func startSSHAgent(t *testing.T, keys ...any) string {
	t.Helper()
	bin, err := exec.LookPath("ssh-agent")
	if err != nil {
		if os.Getenv("FERRY_REQUIRE_SSH_AGENT") != "" {
			t.Fatal("ssh-agent is missing (apt-get install openssh-client)")
		}
		t.Skip("ssh-agent is missing (apt-get install openssh-client)")
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command(bin, "-D", "-a", sock)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// -D prints the socket's environment line once it listens.
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.Contains(line, "SSH_AUTH_SOCK") {
		t.Fatalf("ssh-agent did not start: %q %v", line, err)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, k := range keys {
		if err := agent.NewClient(c).Add(agent.AddedKey{PrivateKey: k}); err != nil {
			t.Fatal(err)
		}
	}
	return sock
}

// TestSSHAgentKeysThroughServe: a passphrase-protected identity is used
// through a real ssh-agent that holds it (SSH_AUTH_SOCK); without an agent,
// or with one that lacks the key, ferry sync says what to do; an identity
// without a passphrase is used as it is, agent or not.
func TestSSHAgentKeysThroughServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	plain, err := os.ReadFile(s.identity)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.ParseRawPrivateKey(plain)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKeyWithPassphrase(key, "ferry test", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(s.dir, "id_locked")
	if err := os.WriteFile(locked, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(s.local, "a.txt"), "through the agent")
	cfg := s.jobs(t, "    direction: two-way\n")
	cfg = rewriteIdentity(t, cfg, s.identity, locked)
	syncWith := func(sock string) (int, string) {
		t.Setenv("SSH_AUTH_SOCK", sock)
		var out, stderr strings.Builder
		code := run(ctx, &env{stdout: &out, stderr: &stderr}, []string{"sync", "--accept-new-host-key", "--config", cfg, "j"})
		return code, out.String() + stderr.String()
	}

	if code, out := syncWith(""); code == exitOK || !strings.Contains(out, "protected by a passphrase and no ssh-agent holds it") || !strings.Contains(out, "ssh-add "+locked) {
		t.Fatalf("a locked identity without an agent: exit %d\n%s", code, out)
	}
	if code, out := syncWith(startSSHAgent(t)); code == exitOK || !strings.Contains(out, "does not hold the key of identity "+locked) {
		t.Fatalf("a locked identity with an agent that lacks it: exit %d\n%s", code, out)
	}
	if code, out := syncWith(startSSHAgent(t, key)); code != exitOK {
		t.Fatalf("a locked identity held by the agent: exit %d\n%s", code, out)
	}
	if b, err := os.ReadFile(filepath.Join(s.served, "a.txt")); err != nil || string(b) != "through the agent" {
		t.Fatalf("a.txt did not arrive: %q %v", b, err)
	}

	// No identity in the job and none at ~/.ssh/id_ed25519: the agent's
	// keys are offered, as OpenSSH does.
	t.Setenv("HOME", t.TempDir())
	cfg = rewriteIdentity(t, cfg, locked, filepath.Join(os.Getenv("HOME"), ".ssh", "id_ed25519"))
	write(t, filepath.Join(s.local, "b.txt"), "default identity")
	if code, out := syncWith(startSSHAgent(t, key)); code != exitOK {
		t.Fatalf("no identity file, the key in the agent: exit %d\n%s", code, out)
	}
	if code, out := syncWith(""); code == exitOK || !strings.Contains(out, "unable to read identity") {
		t.Fatalf("no identity file and no agent: exit %d\n%s", code, out)
	}
}

// rewriteIdentity points the jobs file's identity at another key file.
func rewriteIdentity(t *testing.T, cfg, from, to string) string {
	t.Helper()
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(b), "identity: "+from, "identity: "+to, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}
