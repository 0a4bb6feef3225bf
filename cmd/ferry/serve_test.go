package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// serveLog is `ferry serve`'s stderr: it hands over the address from the
// "serving" line as soon as it is written.
type serveLog struct {
	mu      sync.Mutex
	b       bytes.Buffer
	serving chan string
	sent    bool
}

var servingLine = regexp.MustCompile(`msg=serving listen=(\S+)`)

func (l *serveLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	if m := servingLine.FindSubmatch(l.b.Bytes()); m != nil && !l.sent {
		l.sent = true
		l.serving <- string(m[1])
	}
	return len(p), nil
}

func (l *serveLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe runs `ferry serve args...` in this process until the test
// ends and returns the address it listens on and its log.
func startServe(t *testing.T, args ...string) (string, *serveLog) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := &serveLog{serving: make(chan string, 1)}
	done := make(chan int, 1)
	go func() { done <- run(ctx, &env{stdout: log, stderr: log}, append([]string{"serve"}, args...)) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case addr := <-log.serving:
		return addr, log
	case code := <-done:
		t.Fatalf("ferry serve exited %d:\n%s", code, log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("ferry serve did not start within 30 s:\n%s", log.String())
	}
	return "", nil
}

// newKey writes a fresh ed25519 identity to path and returns its
// authorized_keys line (without newline) and its fingerprint.
func newKey(t *testing.T, path string) (line, fingerprint string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
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
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))), ssh.FingerprintSHA256(sp)
}

// pushJob writes a jobs file that copies local to remote (a ferry:// URL)
// with identity.
func pushJob(t *testing.T, dir, name, local, remote, identity string) string {
	t.Helper()
	p := filepath.Join(dir, name+".yaml")
	write(t, p, "state_dir: "+filepath.Join(dir, "state-"+name)+"\njobs:\n  - name: j\n    local: "+local+
		"\n    remote: "+remote+"\n    identity: "+identity+"\n    direction: local-to-remote\n")
	return p
}

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServeHonoursAuthorizedKeyOptions: a real `ferry serve` and `ferry
// sync` with real keys. A key limited by from= to another address, an
// expired key and a key with a forced command cannot write; a key whose
// from= names the client can.
func TestServeHonoursAuthorizedKeyOptions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	served, local := filepath.Join(dir, "served"), filepath.Join(dir, "local")
	mkdirs(t, served, local)
	write(t, filepath.Join(local, "a.txt"), "pushed")
	keys := map[string]string{}
	var lines []string
	for _, k := range []struct{ name, opts string }{
		{"elsewhere", `from="10.9.9.9"`},
		{"loopback", `from="127.0.0.1",restrict`},
		{"expired", `expiry-time="20200101"`},
		{"forced", `command="/usr/bin/false"`},
	} {
		keys[k.name] = filepath.Join(dir, k.name)
		line, _ := newKey(t, keys[k.name])
		lines = append(lines, k.opts+" "+line+" "+k.name+"@test")
	}
	ak := filepath.Join(dir, "ferry_keys")
	write(t, ak, strings.Join(lines, "\n")+"\n")
	addr, log := startServe(t, "--listen", "127.0.0.1:0", "--root", served, "--authorized-keys", ak,
		"--state-dir", filepath.Join(dir, "serve-state"))

	for _, name := range []string{"elsewhere", "expired", "forced"} {
		cfg := pushJob(t, dir, name, local, "ferry://tester@"+addr+"/", keys[name])
		code, _, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j")
		if code != exitError {
			t.Errorf("key %s: sync exit %d, want %d: %s", name, code, exitError, stderr)
		}
		if !strings.Contains(stderr, "refuses key") {
			t.Errorf("key %s: the user is not told the key was refused: %s", name, stderr)
		}
		if _, err := os.Stat(filepath.Join(served, "a.txt")); err == nil {
			t.Fatalf("key %s wrote into the served folder", name)
		}
	}
	cfg := pushJob(t, dir, "loopback", local, "ferry://tester@"+addr+"/", keys["loopback"])
	if code, _, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j"); code != exitOK {
		t.Fatalf(`key with from="127.0.0.1": sync exit %d: %s`, code, stderr)
	}
	if got := read(t, filepath.Join(served, "a.txt")); got != "pushed" {
		t.Fatalf("served a.txt = %q", got)
	}
	out := log.String()
	if n := strings.Count(out, "authorized key refused: its options"); n != 1 {
		t.Errorf("the command= key is logged %d times, want once at load:\n%s", n, out)
	}
	for _, want := range []string{ak + ":4", "forced@test", "command= is not supported", ak + ":3", "it has expired"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve log lacks %q:\n%s", want, out)
		}
	}
}

// TestServeUserNamesTheAccount: in ferry://bob@host with alice's key the
// server refuses, naming both, and writes nothing; ferry://alice@host
// with alice's key writes into alice's root.
func TestServeUserNamesTheAccount(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	local := filepath.Join(dir, "local")
	mkdirs(t, local)
	write(t, filepath.Join(local, "a.txt"), "alice's file")
	yaml := "listen: 127.0.0.1:0\nstate_dir: " + filepath.Join(dir, "serve-state") + "\nusers:\n"
	ids, fps := map[string]string{}, map[string]string{}
	for _, u := range []string{"alice", "bob"} {
		mkdirs(t, filepath.Join(dir, u))
		ids[u] = filepath.Join(dir, u+"_key")
		line, fp := newKey(t, ids[u])
		fps[u] = fp
		write(t, filepath.Join(dir, u+".keys"), line+"\n")
		yaml += "  - name: " + u + "\n    root: " + filepath.Join(dir, u) + "\n    authorized_keys: " + filepath.Join(dir, u+".keys") + "\n"
	}
	server := filepath.Join(dir, "server.yaml")
	write(t, server, yaml)
	addr, _ := startServe(t, "--config", server)

	cfg := pushJob(t, dir, "as-bob", local, "ferry://bob@"+addr+"/", ids["alice"])
	code, _, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j")
	if code != exitError {
		t.Fatalf("alice's key as bob: exit %d, want %d: %s", code, exitError, stderr)
	}
	for _, want := range []string{`user "bob"`, `user "alice"`, fps["alice"]} {
		if !strings.Contains(stderr, want) {
			t.Errorf("ferry sync does not name %s:\n%s", want, stderr)
		}
	}
	for _, u := range []string{"alice", "bob"} {
		if _, err := os.Stat(filepath.Join(dir, u, "a.txt")); err == nil {
			t.Fatalf("alice's key as bob wrote into %s's root", u)
		}
	}
	cfg = pushJob(t, dir, "as-alice", local, "ferry://alice@"+addr+"/", ids["alice"])
	if code, _, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j"); code != exitOK {
		t.Fatalf("alice's key as alice: exit %d: %s", code, stderr)
	}
	if got := read(t, filepath.Join(dir, "alice", "a.txt")); got != "alice's file" {
		t.Fatalf("alice's root holds %q", got)
	}
}

// TestServeConfigListenIsNotHiddenByTheFlagDefault: the file's listen:
// holds unless --listen is given.
func TestServeConfigListenIsNotHiddenByTheFlagDefault(t *testing.T) {
	dir := t.TempDir()
	mkdirs(t, filepath.Join(dir, "alice"))
	newKey(t, filepath.Join(dir, "key"))
	write(t, filepath.Join(dir, "alice.keys"), "")
	server := func(listen string) string {
		p := filepath.Join(dir, "server.yaml")
		write(t, p, "listen: "+listen+"\nstate_dir: "+filepath.Join(dir, "state")+"\nusers:\n  - name: alice\n    root: "+
			filepath.Join(dir, "alice")+"\n    authorized_keys: "+filepath.Join(dir, "alice.keys")+"\n")
		return p
	}
	addr, _ := startServe(t, "--config", server("127.0.0.1:0"))
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("serve listens on %s, want the file's 127.0.0.1", addr)
	}
	addr, _ = startServe(t, "--config", server("127.0.0.2:0"), "--listen", "127.0.0.1:0")
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("serve listens on %s, want --listen's 127.0.0.1", addr)
	}
}

// TestServeRefusesMissingRoot: a root that does not exist is a
// configuration mistake, exit 2, naming the path.
func TestServeRefusesMissingRoot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	line, _ := newKey(t, filepath.Join(dir, "key"))
	ak := filepath.Join(dir, "keys")
	write(t, ak, line+"\n")
	missing := filepath.Join(dir, "no-such-folder")
	file := filepath.Join(dir, "file")
	write(t, file, "")
	for _, root := range []string{missing, file} {
		code, _, stderr := runCLI(t, ctx, "serve", "--listen", "127.0.0.1:0", "--root", root, "--authorized-keys", ak,
			"--state-dir", filepath.Join(dir, "state"))
		if code != exitConfig || !strings.Contains(stderr, root) {
			t.Errorf("--root %s: exit %d, want %d and the path named: %s", root, code, exitConfig, stderr)
		}
	}
	server := filepath.Join(dir, "server.yaml")
	write(t, server, "listen: 127.0.0.1:0\nstate_dir: "+filepath.Join(dir, "state")+"\nusers:\n  - name: alice\n    root: "+
		missing+"\n    authorized_keys: "+ak+"\n")
	code, _, stderr := runCLI(t, ctx, "serve", "--config", server)
	if code != exitConfig || !strings.Contains(stderr, missing) || !strings.Contains(stderr, `"alice"`) {
		t.Errorf("user root missing: exit %d, want %d naming the user and the path: %s", code, exitConfig, stderr)
	}
}

// TestServeHelpSaysTheUserIsNotChecked: in single-root mode any user name
// reaches the root, and --help says so.
func TestServeHelpSaysTheUserIsNotChecked(t *testing.T) {
	code, _, stderr := runCLI(t, context.Background(), "serve", "-h")
	if code != exitOK || !strings.Contains(stderr, "ferry://USER@host is NOT checked") {
		t.Fatalf("exit %d, help:\n%s", code, stderr)
	}
}
