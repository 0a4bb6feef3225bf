package remote_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/transport/proxy"
	"github.com/ferry-sync/ferry/transport/remote"
)

// refusingProxy answers every CONNECT with 403.
func refusingProxy(t *testing.T) string {
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
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				io.WriteString(c, "HTTP/1.1 403 Forbidden by policy\r\nContent-Length: 0\r\n\r\n")
			}()
		}
	}()
	return l.Addr().String()
}

func proxiedOptions(t *testing.T, o remote.Options) remote.Options {
	t.Helper()
	dir := t.TempDir()
	o.IdentityFile = filepath.Join(dir, "id")
	writeKey(t, o.IdentityFile)
	o.KnownHostsFile = filepath.Join(dir, "known_hosts")
	o.Host, o.Port, o.DialTimeout = "127.0.0.1", 1, 10*time.Second
	return o
}

// TestProxyRefusalIsNotALostConnection: a proxy's refusal is retried
// like a failed connection (ErrDisconnected) and carries the proxy's
// answer as a value, but does not say a connection was lost.
func TestProxyRefusalIsNotALostConnection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := refusingProxy(t)
	e, err := remote.New(proxiedOptions(t, remote.Options{Proxy: "http://" + addr, Getenv: func(string) string { return "" }}))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	err = e.Connect(ctx)
	var re *proxy.RefusedError
	if !errors.Is(err, remote.ErrDisconnected) || !errors.As(err, &re) || re.Code != 403 {
		t.Fatalf("got %v, want ErrDisconnected and a RefusedError 403", err)
	}
	if msg := err.Error(); strings.Contains(msg, "lost") || !strings.Contains(msg, `"HTTP/1.1 403 Forbidden by policy"`) ||
		!strings.Contains(msg, "through proxy http://"+addr+" (the job's proxy key)") {
		t.Errorf("message: %s", msg)
	}
}

// TestEnvironmentProxyWithTransportUDP: a proxy from the environment and
// transport: udp fail at connect, saying why and where the proxy came
// from; proxy: none ignores the environment.
func TestEnvironmentProxyWithTransportUDP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	getenv := func(k string) string {
		if k == "ALL_PROXY" {
			return "socks5://127.0.0.1:1"
		}
		return ""
	}
	e, err := remote.New(proxiedOptions(t, remote.Options{Transport: config.UDP, Getenv: getenv}))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if p, from := e.Proxy(); p == nil || from != "ALL_PROXY" {
		t.Fatalf("proxy %v from %q, want ALL_PROXY's", p, from)
	}
	err = e.Connect(ctx)
	var pu *remote.ProxyUDPError
	if !errors.As(err, &pu) || pu.From != "ALL_PROXY" || !strings.Contains(err.Error(), "UDP data cannot pass through it") ||
		!strings.Contains(err.Error(), "proxy: none (or NO_PROXY)") {
		t.Errorf("got %v, want a ProxyUDPError from ALL_PROXY", err)
	}

	direct, err := remote.New(proxiedOptions(t, remote.Options{Transport: config.UDP, Getenv: getenv, Proxy: config.ProxyNone}))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	if p, _ := direct.Proxy(); p != nil {
		t.Errorf("proxy: none uses %v", p)
	}
}
