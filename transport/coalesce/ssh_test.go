package coalesce

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
)

// counting counts the writes that reach a connection.
type counting struct {
	net.Conn
	n atomic.Int64
}

func (c *counting) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(p)
}

// openWave opens n SSH channels at once from client to server, as a
// metadata wave does, and returns how many writes the client's side of
// the connection made while doing so.
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
		for c := range chans {
			ch, rq, err := c.Accept()
			if err != nil {
				continue
			}
			go ssh.DiscardRequests(rq)
			go func() { ch.Write([]byte("ok")); ch.Close() }()
		}
	}()
	cnt := &counting{Conn: a}
	var nc net.Conn = cnt
	if wrap {
		nc = Wrap(cnt)
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, "test", &ssh.ClientConfig{User: "u", HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	if err != nil {
		t.Fatal(err)
	}
	client := ssh.NewClient(sc, chans, reqs)
	defer client.Close()
	before := cnt.n.Load()
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
	wg.Wait()
	return cnt.n.Load() - before
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
	if wrapped > raw/4 {
		t.Fatalf("wrapped, %d opens took %d writes (unwrapped %d): not coalesced", n, wrapped, raw)
	}
}
