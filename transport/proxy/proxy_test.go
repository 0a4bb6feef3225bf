package proxy_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/internal/proxytest"
	"github.com/ferry-sync/ferry/transport/proxy"
)

// greeter is a TCP server that speaks first, as an SSH server does, then
// echoes one line.
func greeter(t *testing.T) (addr string, port int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.WriteString(c, "SSH-2.0-greeter\r\n")
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					return
				}
				io.WriteString(c, "echo "+line)
			}()
		}
	}()
	return l.Addr().String(), l.Addr().(*net.TCPAddr).Port
}

func proxyFor(t *testing.T, scheme config.ProxyScheme, addr, user, pass string) config.Proxy {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	return config.Proxy{Scheme: scheme, Host: host, Port: n, User: user, Password: pass, HasAuth: user != ""}
}

// talk dials target through p and checks the greeting, which the server
// sends before the client says anything, and an echo.
func talk(t *testing.T, p config.Proxy, target string) error {
	t.Helper()
	d, err := proxy.New(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	if g, err := r.ReadString('\n'); err != nil || g != "SSH-2.0-greeter\r\n" {
		t.Fatalf("greeting %q, %v", g, err)
	}
	io.WriteString(c, "hello\n")
	if e, err := r.ReadString('\n'); err != nil || e != "echo hello\n" {
		t.Fatalf("echo %q, %v", e, err)
	}
	return nil
}

// TestHTTPConnectThroughTinyproxy: a tunnel through a real HTTP proxy
// that wants a password, with the server's first bytes arriving with the
// proxy's answer or after it; a wrong password, none, and a port the
// proxy does not allow are refused with the proxy's status line.
func TestHTTPConnectThroughTinyproxy(t *testing.T) {
	target, port := greeter(t)
	tp := proxytest.Tinyproxy(t, proxytest.TinyproxyConfig{User: "ferry", Password: "s3cret", ConnectPorts: []int{port}})
	if err := talk(t, proxyFor(t, config.HTTPProxy, tp.Addr, "ferry", "s3cret"), target); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	if !strings.Contains(tp.Log(), "CONNECT "+target) {
		t.Errorf("the proxy's log has no CONNECT %s:\n%s", target, tp.Log())
	}

	for _, c := range []struct {
		name, user, pass, target string
		code                     int
		want                     string
	}{
		{"wrong password", "ferry", "wrong", target, 401, "did not accept the user and password"},
		{"no credentials", "", "", target, 407, "it wants a user and password"},
	} {
		err := talk(t, proxyFor(t, config.HTTPProxy, tp.Addr, c.user, c.pass), c.target)
		var re *proxy.RefusedError
		if !errors.As(err, &re) || re.Code != c.code || !re.AuthFailed() || !strings.Contains(err.Error(), c.want) ||
			!strings.Contains(err.Error(), strconv.Itoa(c.code)) {
			t.Errorf("%s: %v, want a RefusedError %d saying %q", c.name, err, c.code, c.want)
		}
		if strings.Contains(err.Error(), c.pass) && c.pass != "" {
			t.Errorf("%s: the error shows the password: %v", c.name, err)
		}
	}

	// A port outside ConnectPort.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = talk(t, proxyFor(t, config.HTTPProxy, tp.Addr, "ferry", "s3cret"), l.Addr().String())
	var re *proxy.RefusedError
	if !errors.As(err, &re) || re.Code != 403 || re.AuthFailed() ||
		!strings.Contains(err.Error(), `"HTTP/1.1 403 Access violation"`) || !strings.Contains(err.Error(), l.Addr().String()) {
		t.Errorf("refused port: %v, want a RefusedError quoting the 403 status line", err)
	}
}

// TestSOCKS5ThroughMicrosocks: a tunnel through a real SOCKS5 server
// with a user and password, and a wrong password refused.
func TestSOCKS5ThroughMicrosocks(t *testing.T) {
	target, _ := greeter(t)
	ms := proxytest.Microsocks(t, "ferry", "s3cret")
	if err := talk(t, proxyFor(t, config.SOCKS5Proxy, ms.Addr, "ferry", "s3cret"), target); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	if err := talk(t, proxyFor(t, config.SOCKS5Proxy, ms.Addr, "ferry", "wrong"), target); err == nil {
		t.Error("a wrong password got through")
	}
}

// TestHTTPProxyUnreachable: nothing listens where the proxy should be.
func TestHTTPProxyUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	err = talk(t, proxyFor(t, config.HTTPProxy, addr, "", ""), "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "unable to reach the proxy") {
		t.Errorf("got %v, want unable to reach the proxy", err)
	}
}

// TestHTTPProxyHandshakeEndsWithContext: a proxy that never answers
// CONNECT holds the dial only until the context ends.
func TestHTTPProxyHandshakeEndsWithContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	d, err := proxy.New(proxyFor(t, config.HTTPProxy, l.Addr().String(), "", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := d.DialContext(ctx, "tcp", "127.0.0.1:1")
		done <- err
	}()
	c := <-accepted
	defer c.Close()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want the dial to end with the context", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the dial outlived its context")
	}
}

// TestHTTPConnectKeepsBytesAfterTheAnswer: a proxy whose answer and the
// server's first bytes leave in one segment; the bytes read with the
// answer are the start of the tunnel, not lost.
func TestHTTPConnectKeepsBytesAfterTheAnswer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\nSSH-2.0-greeter\r\n")
		line, _ := r.ReadString('\n')
		io.WriteString(c, "echo "+line)
	}()
	if err := talk(t, proxyFor(t, config.HTTPProxy, l.Addr().String(), "", ""), "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
}
