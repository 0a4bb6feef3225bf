// Package proxytest runs real proxies on loopback for tests: Debian's
// tinyproxy (HTTP CONNECT) and microsocks (SOCKS5). A test whose proxy
// is not installed is skipped, saying so, unless FERRY_REQUIRE_PROXY is
// set (as .ci/run does, so the tests never skip silently).
package proxytest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds the wait for a proxy to listen.
const startTimeout = 30 * time.Second

// attempts bounds the ports tried: a free port is picked, closed and
// handed to the proxy, and another process may take it in between.
const attempts = 5

// Proxy is a running proxy.
type Proxy struct {
	// Addr is where it listens, 127.0.0.1:port.
	Addr string
	log  *buffer
}

// Log is what the proxy has written so far (tinyproxy logs every
// CONNECT it is asked for).
func (p *Proxy) Log() string { return p.log.String() }

// TinyproxyConfig says what a tinyproxy accepts.
type TinyproxyConfig struct {
	// User and Password, when User is set, are required of every client
	// (BasicAuth).
	User, Password string
	// ConnectPorts are the only ports CONNECT may reach; none allows all.
	ConnectPorts []int
}

// Tinyproxy starts tinyproxy on a loopback port for t and stops it when t
// ends.
func Tinyproxy(t testing.TB, c TinyproxyConfig) *Proxy {
	t.Helper()
	bin := need(t, "tinyproxy")
	dir := t.TempDir()
	return start(t, "tinyproxy", func(port int) *exec.Cmd {
		var b strings.Builder
		fmt.Fprintf(&b, "Port %d\nListen 127.0.0.1\nTimeout 600\nMaxClients 100\nLogLevel Info\nAllow 127.0.0.1\n", port)
		if c.User != "" {
			fmt.Fprintf(&b, "BasicAuth %s %s\n", c.User, c.Password)
		}
		for _, p := range c.ConnectPorts {
			fmt.Fprintf(&b, "ConnectPort %d\n", p)
		}
		conf := filepath.Join(dir, "tinyproxy-"+strconv.Itoa(port)+".conf")
		if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		return exec.Command(bin, "-d", "-c", conf)
	}, "Accepting connections")
}

// Microsocks starts microsocks, a SOCKS5 server, on a loopback port for t
// and stops it when t ends. With user set it requires user and password
// (RFC 1929).
func Microsocks(t testing.TB, user, password string) *Proxy {
	t.Helper()
	bin := need(t, "microsocks")
	return start(t, "microsocks", func(port int) *exec.Cmd {
		args := []string{"-i", "127.0.0.1", "-p", strconv.Itoa(port)}
		if user != "" {
			args = append(args, "-u", user, "-P", password)
		}
		return exec.Command(bin, args...)
	}, "")
}

func need(t testing.TB, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("FERRY_REQUIRE_PROXY") != "" {
			t.Fatalf("proxytest: %s is not installed and FERRY_REQUIRE_PROXY is set (apt-get install %s)", name, name)
		}
		t.Skipf("proxytest: %s is not installed (apt-get install %s; .ci/run installs it), so the proxy tests cannot run", name, name)
	}
	return bin
}

// start runs the command cmd(port) gives until it listens: when it logs a
// line containing ready, or, with ready empty, when the port accepts a
// connection.
func start(t testing.TB, name string, cmd func(port int) *exec.Cmd, ready string) *Proxy {
	t.Helper()
	var last string
	for range attempts {
		port := freePort(t)
		log := &buffer{}
		c := cmd(port)
		pr, pw := io.Pipe()
		c.Stdout, c.Stderr = pw, pw
		if err := c.Start(); err != nil {
			t.Fatalf("proxytest: unable to start %s: %v", name, err)
		}
		exited := make(chan struct{})
		go func() {
			c.Wait()
			pw.Close()
			close(exited)
		}()
		seen := make(chan struct{})
		go func() {
			s := bufio.NewScanner(pr)
			signalled := false
			for s.Scan() {
				log.Write(append(s.Bytes(), '\n'))
				if !signalled && ready != "" && strings.Contains(s.Text(), ready) {
					signalled = true
					close(seen)
				}
			}
			io.Copy(io.Discard, pr)
		}()
		stop := func() {
			c.Process.Kill()
			<-exited
		}
		p := &Proxy{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), log: log}
		var up bool
		if ready != "" {
			select {
			case <-seen:
				up = true
			case <-exited:
			case <-time.After(startTimeout):
				stop()
				t.Fatalf("proxytest: %s did not start within %v:\n%s", name, startTimeout, log)
			}
		} else {
			up = dialUntil(p.Addr, exited)
		}
		if up {
			t.Cleanup(stop)
			return p
		}
		stop()
		last = log.String()
	}
	t.Fatalf("proxytest: %s did not start in %d attempts; its last output:\n%s", name, attempts, last)
	return nil
}

// dialUntil waits for addr to accept a connection, or the process to exit
// (then false). A proxy that prints nothing when it listens is polled: 20
// ms apart, for at most startTimeout.
func dialUntil(addr string, exited <-chan struct{}) bool {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return true
		}
		select {
		case <-exited:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
