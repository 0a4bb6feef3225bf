package coalesce

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// counting counts the writes that reach a connection; while held, they
// wait for release.
type counting struct {
	net.Conn
	n       atomic.Int64
	held    atomic.Bool
	release chan struct{}
}

func (c *counting) Write(p []byte) (int, error) {
	if c.held.Load() {
		<-c.release
	}
	c.n.Add(1)
	return c.Conn.Write(p)
}

// openWave opens n SSH channels at once from client to server, as a
// metadata wave does on a long link: the opens are all written before any
// answer could come back, because the link holds the first write until
// every open has been handed to the connection. It returns how many
// writes the client made to send them.
func openWave(t *testing.T, n int, wrap bool) int64 {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	a, b := tcpPair(t)
	srvCfg := &ssh.ServerConfig{NoClientAuth: true}
	srvCfg.AddHostKey(signer)
	opened := make(chan struct{}, n)
	// measured is closed once the test has counted the writes: the server
	// answers nothing before, so nothing the answers make the client
	// write (reads, closes) can be counted with the opens, however late
	// a loaded machine runs the counting.
	measured := make(chan struct{})
	go func() {
		var nc net.Conn = b
		if wrap {
			nc = Wrap(b)
		}
		_, chans, reqs, err := ssh.NewServerConn(nc, srvCfg)
		if err != nil {
			return
		}
		go ssh.DiscardRequests(reqs)
		// No answer before every open is in, so the client writes
		// nothing else meanwhile.
		var waiting []ssh.NewChannel
		for c := range chans {
			opened <- struct{}{}
			waiting = append(waiting, c)
			if len(waiting) < n {
				continue
			}
			<-measured
			for _, c := range waiting {
				ch, rq, err := c.Accept()
				if err != nil {
					continue
				}
				go ssh.DiscardRequests(rq)
				go func() { ch.Write([]byte("ok")); ch.Close() }()
			}
		}
	}()
	cnt := &counting{Conn: a, release: make(chan struct{})}
	var nc net.Conn = cnt
	var bc *Conn
	if wrap {
		bc = Wrap(cnt)
		nc = bc
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, "test", &ssh.ClientConfig{User: "u", HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	if err != nil {
		t.Fatal(err)
	}
	client := ssh.NewClient(sc, chans, reqs)
	defer client.Close()
	before := cnt.n.Load()
	queuedBefore := 0
	if bc != nil {
		bc.mu.Lock()
		queuedBefore = bc.queued
		bc.mu.Unlock()
	}
	cnt.held.Store(true)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			ch, rq, err := client.OpenChannel("x", []byte("request"))
			if err != nil {
				t.Error(err)
				return
			}
			go ssh.DiscardRequests(rq)
			buf := make([]byte, 2)
			if _, err := ch.Read(buf); err != nil || string(buf) != "ok" {
				t.Errorf("answer %q, %v", buf, err)
			}
			ch.Close()
		})
	}
	if bc != nil {
		waitFor(t, "every open to be queued", func() bool {
			bc.mu.Lock()
			defer bc.mu.Unlock()
			return bc.queued-queuedBefore >= n
		})
	}
	// Unwrapped, each open waits in its own write; let them through.
	cnt.held.Store(false)
	close(cnt.release)
	for range n {
		select {
		case <-opened:
		case <-time.After(20 * time.Second):
			t.Fatal("the server did not see every open")
		}
	}
	got := cnt.n.Load() - before
	close(measured)
	wg.Wait()
	return got
}

// A wave of channel opens leaves in a few writes, not one per open: with
// TCP_NODELAY each write is a segment, and a few hundred segments outgrow
// the congestion window of a long link.
func TestAWaveOfChannelsLeavesInFewWrites(t *testing.T) {
	const n = 256
	raw := openWave(t, n, false)
	wrapped := openWave(t, n, true)
	t.Logf("%d channel opens: %d writes unwrapped, %d wrapped", n, raw, wrapped)
	if raw < n {
		t.Fatalf("unwrapped, %d opens took only %d writes: the test no longer shows the problem", n, raw)
	}
	if wrapped > 3 {
		t.Fatalf("wrapped, %d opens written while the link held the first took %d writes (unwrapped %d): not coalesced", n, wrapped, raw)
	}
}
