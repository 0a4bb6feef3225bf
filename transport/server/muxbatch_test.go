package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/transport/data"
	"github.com/ferry-sync/ferry/transport/wire"
)

// registerID registers a session under a chosen id.
func registerID(tb testing.TB, m *udpMux, id wire.SessionID) *sessionConn {
	tb.Helper()
	sc, err := m.register(func(b []byte) (int, error) { return copy(b, id[:]), nil })
	if err != nil {
		tb.Fatal(err)
	}
	return sc
}

func TestReadDatagramsTakesWhatWaitsInOrder(t *testing.T) {
	m := newMux(nil, slog.New(slog.DiscardHandler))
	sc := registerID(t, m, wire.SessionID{9})
	defer sc.Close()
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	at := time.Unix(100, 0)
	for i := range 6 {
		sc.deliver(datagram{[]byte(fmt.Sprint("d", i)), from, at.Add(time.Duration(i))})
	}
	ds := make([]data.Datagram, 4)
	var got []string
	for _, want := range []int{4, 2} {
		n, err := sc.ReadDatagrams(ds)
		if err != nil || n != want {
			t.Fatalf("ReadDatagrams = %d, %v; want %d datagrams", n, err, want)
		}
		for _, d := range ds[:n] {
			if d.From != from || d.At != at.Add(time.Duration(len(got))) {
				t.Fatalf("datagram %q from %v at %v", d.B, d.From, d.At)
			}
			got = append(got, string(d.B))
		}
	}
	if fmt.Sprint(got) != "[d0 d1 d2 d3 d4 d5]" {
		t.Fatalf("got %v", got)
	}

	// Nothing waiting: it waits for a datagram (that it blocks rather
	// than returning empty is proven by the deadline below).
	type result struct {
		n   int
		err error
	}
	read := make(chan result, 1)
	go func() {
		n, err := sc.ReadDatagrams(ds)
		read <- result{n, err}
	}()
	sc.deliver(datagram{[]byte("late"), from, at})
	if r := <-read; r.err != nil || r.n != 1 || string(ds[0].B) != "late" {
		t.Fatalf("waiting read = %d, %v", r.n, r.err)
	}

	// A passed deadline fails the read even with a datagram waiting.
	sc.deliver(datagram{[]byte("x"), from, at})
	if err := sc.SetReadDeadline(time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.ReadDatagrams(ds); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after deadline: %v", err)
	}
	if err := sc.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := sc.ReadDatagrams(ds); err != nil || n != 1 {
		t.Fatalf("deadline moved on: %d, %v", n, err)
	}
	// Nothing waiting and a deadline ahead: the read waits until the
	// deadline, not less (a loaded machine may only make it later).
	dl := time.Now().Add(20 * time.Millisecond)
	if err := sc.SetReadDeadline(dl); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.ReadDatagrams(ds); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("deadline reached while waiting: %v", err)
	}
	if now := time.Now(); now.Before(dl) {
		t.Fatalf("the read gave up %v before its deadline", dl.Sub(now))
	}
	sc.Close()
	if err := sc.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.ReadDatagrams(ds); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

// TestMuxServeRoutesBatches runs the batched reader on a real socket, both
// an IPv4 one and a dual-stack one reached over IPv4, and checks every
// datagram reaches its session, whole and in order, and that replies to
// the address it reports get back to the sender.
func TestMuxServeRoutesBatches(t *testing.T) {
	for _, listen := range []struct {
		network, addr string
		plain         bool // hide the *net.UDPConn: serve falls back to run
	}{{"udp4", "127.0.0.1:0", false}, {"udp", ":0", false}, {"udp4", "127.0.0.1:0", true}} {
		t.Run(fmt.Sprintf("%s/plain=%v", listen.network, listen.plain), func(t *testing.T) {
			log := slog.New(slog.DiscardHandler)
			conn, err := data.Listen(listen.network, listen.addr, log)
			if err != nil {
				t.Skipf("no %s socket here: %v", listen.network, err)
			}
			var pc net.PacketConn = conn
			if listen.plain {
				pc = struct{ net.PacketConn }{conn}
			}
			m := newMux(pc, log)
			done := make(chan struct{})
			go func() { m.serve(); close(done) }()
			defer func() { conn.Close(); <-done }()
			a, b := registerID(t, m, wire.SessionID{1}), registerID(t, m, wire.SessionID{2})
			defer a.Close()
			defer b.Close()
			cli, err := data.Listen("udp4", "127.0.0.1:0", log)
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			port := conn.LocalAddr().(*net.UDPAddr).Port
			to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
			// Sent in rounds, each read before the next goes out: a round
			// fits any socket buffer, so the kernel has no reason to drop
			// one of them however slow the reader, and every datagram is
			// owed to a session. A round still takes several batched
			// reads and interleaves the two sessions.
			const rounds, each = 10, 20
			ds := make([]data.Datagram, 7)
			next := [2]uint64{0, 1} // session 1 gets the even numbers
			var from [2]net.Addr    // where each session's datagrams came from
			for r := range rounds {
				for i := r * 2 * each; i < (r+1)*2*each; i++ {
					h := wire.Header{Type: wire.TypeData, Session: wire.SessionID{byte(1 + i%2)}, Number: uint64(i)}
					if _, err := cli.WriteTo(h.Append(nil), to); err != nil {
						t.Fatal(err)
					}
				}
				if r == 0 {
					// A datagram for no session, and a runt, are dropped.
					_, _ = cli.WriteTo(wire.Header{Type: wire.TypeData, Session: wire.SessionID{3}}.Append(nil), to)
					_, _ = cli.WriteTo([]byte{1}, to)
				}
				for k, sc := range []*sessionConn{a, b} {
					for next[k] < uint64((r+1)*2*each) {
						if err := sc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
							t.Fatal(err)
						}
						n, err := sc.ReadDatagrams(ds)
						if err != nil {
							t.Fatalf("session %d: after packet %d: %v", k+1, next[k], err)
						}
						for _, d := range ds[:n] {
							h, _, err := wire.ParseHeader(d.B)
							if err != nil || h.Session != (wire.SessionID{byte(k + 1)}) || h.Number != next[k] {
								t.Fatalf("session %d: got %+v (%v), want number %d", k+1, h, err, next[k])
							}
							if d.At.IsZero() || d.From == nil {
								t.Fatalf("datagram without arrival time or source: %+v", d)
							}
							next[k] += 2
							from[k] = d.From
						}
					}
				}
			}
			// Replies to the address a datagram came from get back.
			for k, sc := range []*sessionConn{a, b} {
				if _, err := sc.WriteTo([]byte("reply"), from[k]); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 16)
				if err := cli.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
					t.Fatal(err)
				}
				if n, _, err := cli.ReadFrom(buf); err != nil || string(buf[:n]) != "reply" {
					t.Fatalf("reply: %q, %v", buf[:n], err)
				}
			}
		})
	}
}
