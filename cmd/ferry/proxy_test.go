package main

import (
	"context"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/internal/demokit"
	"github.com/ferry-sync/ferry/internal/proxytest"
)

// proxyServe is a real `ferry serve` (UDP data sessions on) with a key
// it trusts, and a local folder to push from.
type proxyServe struct {
	dir, served, local, key, addr string
	port                          int
}

func newProxyServe(t *testing.T) *proxyServe {
	t.Helper()
	dir := t.TempDir()
	s := &proxyServe{dir: dir, served: filepath.Join(dir, "served"), local: filepath.Join(dir, "local"), key: filepath.Join(dir, "id")}
	mkdirs(t, s.served, s.local)
	line, _ := newKey(t, s.key)
	ak := filepath.Join(dir, "ferry_keys")
	write(t, ak, line+"\n")
	udp, err := demokit.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s.addr, _ = startServe(t, "--listen", "127.0.0.1:0", "--udp-port", strconv.Itoa(udp), "--root", s.served, "--authorized-keys", ak,
		"--state-dir", filepath.Join(dir, "serve-state"))
	_, port, _ := net.SplitHostPort(s.addr)
	s.port, _ = strconv.Atoi(port)
	return s
}

// job writes a jobs file that pushes the local folder into the served
// folder's sub, with extra job keys.
func (s *proxyServe) job(t *testing.T, name, sub, extra string) string {
	t.Helper()
	mkdirs(t, filepath.Join(s.served, sub))
	p := filepath.Join(s.dir, name+".yaml")
	write(t, p, "state_dir: "+filepath.Join(s.dir, "state-"+name)+"\njobs:\n  - name: j\n    local: "+s.local+
		"\n    remote: ferry://tester@"+s.addr+"/"+sub+"\n    identity: "+s.key+"\n    direction: local-to-remote\n"+extra)
	return p
}

// file puts a file of random bytes, large enough for a UDP data session,
// in the local folder.
func (s *proxyServe) file(t *testing.T, name string) []byte {
	t.Helper()
	b := make([]byte, 256<<10)
	rand.Read(b)
	if err := os.WriteFile(filepath.Join(s.local, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

func (s *proxyServe) arrived(t *testing.T, sub, name string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(s.served, sub, name))
	if err != nil || string(got) != string(want) {
		t.Fatalf("%s/%s did not arrive intact (%d bytes, %v)", sub, name, len(got), err)
	}
}

// TestSyncThroughHTTPProxy: `ferry sync` reaches a real `ferry serve`
// through a real HTTP proxy (tinyproxy) that wants a password, and moves
// the data over the SSH connection, which the proxy carries: the proxy
// logs the CONNECT and the summary names the stream. The same job with
// proxy: none moves its data over UDP. A wrong password and a CONNECT the
// proxy's rules refuse fail with an error that names the proxy and
// quotes its answer.
func TestSyncThroughHTTPProxy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := newProxyServe(t)
	tp := proxytest.Tinyproxy(t, proxytest.TinyproxyConfig{User: "ferry", Password: "s3cret", ConnectPorts: []int{s.port}})
	data := s.file(t, "a.bin")

	cfg := s.job(t, "proxied", "viaproxy", "    proxy: http://ferry:s3cret@"+tp.Addr+"\n")
	code, stdout, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--log-level", "info", "--config", cfg, "j")
	if code != exitOK {
		t.Fatalf("sync through the proxy: exit %d\n%s\n%s", code, stdout, stderr)
	}
	s.arrived(t, "viaproxy", "a.bin", data)
	want := "transport: over the SSH connection through proxy http://ferry:xxxxx@" + tp.Addr + " (from the job's proxy key)"
	if !strings.Contains(stdout, want) {
		t.Errorf("the summary does not say the data went over SSH through the proxy (want %q):\n%s", want, stdout)
	}
	if !strings.Contains(tp.Log(), "CONNECT "+s.addr) {
		t.Errorf("the proxy's log has no CONNECT %s:\n%s", s.addr, tp.Log())
	}
	if n := strings.Count(stderr, "connecting through a proxy"); n != 1 {
		t.Errorf("the proxy is logged %d times, want once:\n%s", n, stderr)
	}
	if strings.Contains(stdout+stderr, "s3cret") {
		t.Errorf("the password is shown:\n%s\n%s", stdout, stderr)
	}

	// The same server reached directly uses UDP: the proxy is what made
	// the difference.
	cfg = s.job(t, "direct", "direct", "    proxy: none\n")
	code, stdout, stderr = runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j")
	if code != exitOK || !strings.Contains(stdout, "transport: udp") {
		t.Fatalf("direct sync: exit %d, want the data over UDP\n%s\n%s", code, stdout, stderr)
	}
	s.arrived(t, "direct", "a.bin", data)

	cfg = s.job(t, "wrongpw", "wrongpw", "    proxy: http://ferry:not-it-42@"+tp.Addr+"\n")
	code, stdout, stderr = runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j")
	for _, want := range []string{"through proxy http://ferry:xxxxx@" + tp.Addr, "401 Unauthorized", "did not accept the user and password"} {
		if code != exitError || !strings.Contains(stderr, want) {
			t.Errorf("wrong password: exit %d, want %d and an error saying %q:\n%s", code, exitError, want, stderr)
		}
	}
	if strings.Contains(stdout+stderr, "not-it-42") {
		t.Errorf("the password is shown:\n%s", stderr)
	}

	noauth := proxytest.Tinyproxy(t, proxytest.TinyproxyConfig{User: "ferry", Password: "s3cret", ConnectPorts: []int{s.port}})
	cfg = s.job(t, "noauth", "noauth", "    proxy: http://"+noauth.Addr+"\n")
	code, _, stderr = runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j")
	if code != exitError || !strings.Contains(stderr, "407 Proxy Authentication Required") || !strings.Contains(stderr, "it wants a user and password") {
		t.Errorf("no credentials: exit %d, want %d and the proxy's 407:\n%s", code, exitError, stderr)
	}

	refusing := proxytest.Tinyproxy(t, proxytest.TinyproxyConfig{ConnectPorts: []int{443}})
	cfg = s.job(t, "refused", "refused", "    proxy: http://"+refusing.Addr+"\n")
	code, _, stderr = runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j")
	for _, want := range []string{"unable to connect to ferry server " + s.addr + " through proxy http://" + refusing.Addr,
		`the proxy refused to connect to ` + s.addr + `: "HTTP/1.1 403 Access violation"`} {
		if code != exitError || !strings.Contains(stderr, want) {
			t.Errorf("refused CONNECT: exit %d, want %d and an error saying %q:\n%s", code, exitError, want, stderr)
		}
	}
	for _, sub := range []string{"wrongpw", "noauth", "refused"} {
		if _, err := os.Stat(filepath.Join(s.served, sub, "a.bin")); err == nil {
			t.Errorf("%s: the file arrived although the proxy refused", sub)
		}
	}
}

// TestSyncThroughProxyFromEnvironment: with no proxy key, HTTPS_PROXY
// carries the connection; NO_PROXY naming the server and proxy: none both
// connect directly (over UDP); transport: udp with the environment's
// proxy fails at connect saying why.
func TestSyncThroughProxyFromEnvironment(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := newProxyServe(t)
	tp := proxytest.Tinyproxy(t, proxytest.TinyproxyConfig{User: "ferry", Password: "s3cret", ConnectPorts: []int{s.port}})
	data := s.file(t, "a.bin")
	t.Setenv("HTTPS_PROXY", "")
	t.Setenv("https_proxy", "http://ferry:s3cret@"+tp.Addr)
	t.Setenv("ALL_PROXY", "")
	t.Setenv("all_proxy", "")
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")

	cfg := s.job(t, "env", "env", "")
	code, stdout, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j")
	if code != exitOK || !strings.Contains(stdout, "through proxy http://ferry:xxxxx@"+tp.Addr+" (from https_proxy)") {
		t.Fatalf("sync with https_proxy: exit %d, want the data through the proxy\n%s\n%s", code, stdout, stderr)
	}
	s.arrived(t, "env", "a.bin", data)
	if !strings.Contains(tp.Log(), "CONNECT "+s.addr) {
		t.Errorf("the proxy's log has no CONNECT %s:\n%s", s.addr, tp.Log())
	}

	cfg = s.job(t, "none", "none", "    proxy: none\n")
	code, stdout, stderr = runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j")
	if code != exitOK || !strings.Contains(stdout, "transport: udp") {
		t.Fatalf("proxy: none: exit %d, want the data over UDP\n%s\n%s", code, stdout, stderr)
	}

	cfg = s.job(t, "udp", "udp", "    transport: udp\n")
	code, _, stderr = runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j")
	if code != exitError || !strings.Contains(stderr, "transport is udp, but the connection goes through proxy http://ferry:xxxxx@"+tp.Addr+" (from https_proxy)") ||
		!strings.Contains(stderr, "UDP data cannot pass through it") {
		t.Errorf("transport: udp with https_proxy: exit %d, want %d and why:\n%s", code, exitError, stderr)
	}

	t.Setenv("NO_PROXY", "example.org, 127.0.0.1")
	cfg = s.job(t, "noproxy", "noproxy", "")
	code, stdout, stderr = runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j")
	if code != exitOK || !strings.Contains(stdout, "transport: udp") {
		t.Fatalf("NO_PROXY: exit %d, want the data over UDP\n%s\n%s", code, stdout, stderr)
	}
	if n := strings.Count(tp.Log(), "CONNECT "+s.addr); n != 1 {
		t.Errorf("the proxy saw %d CONNECTs, want only the first sync's:\n%s", n, tp.Log())
	}
}

// TestSyncThroughSOCKS5Proxy: the same through a real SOCKS5 server
// (microsocks) with a user and password; a wrong password fails naming
// the proxy.
func TestSyncThroughSOCKS5Proxy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := newProxyServe(t)
	ms := proxytest.Microsocks(t, "ferry", "s3cret")
	data := s.file(t, "a.bin")

	cfg := s.job(t, "socks", "socks", "    proxy: socks5://ferry:s3cret@"+ms.Addr+"\n")
	code, stdout, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j")
	if code != exitOK || !strings.Contains(stdout, "transport: over the SSH connection through proxy socks5://ferry:xxxxx@"+ms.Addr) {
		t.Fatalf("sync through SOCKS5: exit %d, want the data through the proxy\n%s\n%s", code, stdout, stderr)
	}
	s.arrived(t, "socks", "a.bin", data)

	cfg = s.job(t, "socksbad", "socksbad", "    proxy: socks5://ferry:not-it-42@"+ms.Addr+"\n")
	code, _, stderr = runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j")
	if code != exitError || !strings.Contains(stderr, "through proxy socks5://ferry:xxxxx@"+ms.Addr) || strings.Contains(stderr, "not-it-42") {
		t.Errorf("wrong SOCKS5 password: exit %d, want %d and the proxy named without the password:\n%s", code, exitError, stderr)
	}
}

// TestProxyWithTransportUDPIsAConfigError: the job's own proxy with
// transport: udp is refused before anything starts, naming file, line
// and field.
func TestProxyWithTransportUDPIsAConfigError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "jobs.yaml")
	write(t, cfg, "state_dir: "+filepath.Join(dir, "state")+"\njobs:\n  - name: j\n    local: "+dir+"/l\n    remote: ferry://u@127.0.0.1:1/x\n    transport: udp\n    proxy: http://127.0.0.1:3128\n")
	code, _, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j")
	want := cfg + ":6: jobs[0].transport: udp cannot be used with proxy http://127.0.0.1:3128"
	if code != exitConfig || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, want %d and %q:\n%s", code, exitConfig, want, stderr)
	}
}
