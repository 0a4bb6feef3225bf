package server

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/control"

	"github.com/ferry-sync/ferry/versions"
)

// TestRequestOpenedBeforeTheHelloWaitsForIt: a client's goroutines may
// open a request's channel just before the Hello's; the request waits for
// the folder the Hello opens instead of failing.
func TestRequestOpenedBeforeTheHelloWaitsForIt(t *testing.T) {
	// helloWait never ends here: a loaded machine may take any time to
	// bring the Hello in behind the request.
	ts := startServer(t, func(c *Config) { c.helloTimer = func(time.Duration) <-chan time.Time { return nil } })
	if err := os.Mkdir(filepath.Join(ts.root, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := ts.sshClient(t, ts.signer)
	if err != nil {
		t.Fatal(err)
	}
	// Opened (and confirmed) before any Hello is sent.
	ch, reqs, err := c.OpenChannel(control.ChannelType, control.Append(nil, control.Mkdir{Path: "made", Mode: 0o755}))
	if err != nil {
		t.Fatal(err)
	}
	go ssh.DiscardRequests(reqs)
	defer ch.Close()
	if m, err := rawCall(t, c, control.Hello{Version: control.Version, Path: "docs"}); err != nil {
		t.Fatalf("Hello: %v", err)
	} else if _, ok := m.(control.Welcome); !ok {
		t.Fatalf("Hello answered with %T", m)
	}
	m, _, err := control.ReadFrame(ch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := m.(control.Error); ok {
		t.Fatalf("request sent before the Hello failed: %v", e.Err())
	}
	if fi, err := os.Stat(filepath.Join(ts.root, "docs", "made")); err != nil || !fi.IsDir() {
		t.Fatalf("the request did not run in the Hello's folder: %v", err)
	}
}

// TestRequestWithoutHelloStillFails: a client that never sends a Hello
// gets the error after a bounded wait.
func TestRequestWithoutHelloStillFails(t *testing.T) {
	ts := startServer(t, nil)
	c, err := ts.sshClient(t, ts.signer)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rawCall(t, c, control.Mkdir{Path: "x", Mode: 0o755})
	if err == nil || !strings.Contains(err.Error(), "no folder chosen") {
		t.Fatalf("request without Hello: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ts.root, "x")); !os.IsNotExist(err) {
		t.Fatalf("a request without Hello touched the root: %v", err)
	}
}

// TestRequestWaitsForASlowHello: a request behind a Hello that takes
// longer than helloWait (a big folder's scan cache to open) waits for it
// instead of failing with "no folder chosen".
func TestRequestWaitsForASlowHello(t *testing.T) {
	gate := make(chan struct{})
	waiting := make(chan struct{}, 1)
	ts := startServer(t, func(c *Config) {
		// The request's helloWait is over the moment it starts waiting:
		// whatever the machine's speed, the Hello it is behind takes
		// longer than that.
		c.helloTimer = func(time.Duration) <-chan time.Time {
			expired := make(chan time.Time)
			close(expired)
			waiting <- struct{}{}
			return expired
		}
		c.Open = func(dir, suffix string, cache Cache, store *versions.Store, log *slog.Logger) (endpoint.Endpoint, error) {
			<-gate
			return openLocal(dir, suffix, cache, store, log)
		}
	})
	c, err := ts.sshClient(t, ts.signer)
	if err != nil {
		t.Fatal(err)
	}
	// Opened one after the other, so the server sees the Hello first.
	open := func(req control.Msg) ssh.Channel {
		ch, reqs, err := c.OpenChannel(control.ChannelType, control.Append(nil, req))
		if err != nil {
			t.Fatal(err)
		}
		go ssh.DiscardRequests(reqs)
		t.Cleanup(func() { ch.Close() })
		return ch
	}
	hello := open(control.Hello{Version: control.Version})
	req := open(control.Mkdir{Path: "made", Mode: 0o755})
	select {
	case <-waiting: // the request waits, past its helloWait, for the Hello
	case <-time.After(10 * time.Second):
		t.Fatal("the request never waited for the Hello")
	}
	close(gate)
	for _, ch := range []ssh.Channel{hello, req} {
		m, _, err := control.ReadFrame(ch, nil)
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := m.(control.Error); ok {
			t.Fatalf("behind a slow Hello: %v", e.Err())
		}
	}
	if _, err := os.Stat(filepath.Join(ts.root, "made")); err != nil {
		t.Fatal(err)
	}
}
