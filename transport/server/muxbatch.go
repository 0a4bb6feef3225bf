package server

import (
	"net"
	"os"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/ferry-sync/ferry/transport/data"
	"github.com/ferry-sync/ferry/transport/wire"
)

// muxBatch is how many datagrams one read of the shared socket takes.
const muxBatch = 32

// serve reads the shared socket until it is closed, a batch of datagrams
// per system call (recvmmsg on Linux) when the socket is a UDP socket, else
// through run.
func (m *udpMux) serve() {
	uc, ok := m.conn.(*net.UDPConn)
	if !ok {
		m.run()
		return
	}
	data.EnableArrivalTimes(uc)
	// The socket is the mux's for good: coalesced reads (a run of one
	// peer's datagrams in one buffer) are split below.
	gro := data.EnableGRO(uc, true)
	// ipv4's batch reads parse either family's source address, so they
	// serve a dual-stack socket too.
	pc := ipv4.NewPacketConn(uc)
	ms := make([]ipv4.Message, muxBatch)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, 64<<10)}
		ms[i].OOB = make([]byte, 2*data.OOBSize)
	}
	var last *sessionConn
	var lastID wire.SessionID
	for {
		n, err := pc.ReadBatch(ms, 0)
		now := time.Now()
		if err != nil {
			if m.readFailed(err) {
				return
			}
			continue
		}
		for i := range ms[:n] {
			rest, oob := ms[i].Buffers[0][:ms[i].N], ms[i].OOB[:ms[i].NN]
			at := data.ArrivalTime(oob, now)
			seg := len(rest)
			if gro {
				if s := data.GROSegment(oob); s > 0 {
					seg = s
				}
			}
			for len(rest) > 0 {
				b := rest[:min(seg, len(rest))]
				rest = rest[len(b):]
				h, _, err := wire.ParseHeader(b)
				if err != nil {
					continue
				}
				// A burst is mostly one session's: look it up once.
				if last == nil || h.Session != lastID {
					m.mu.Lock()
					last, lastID = m.sessions[h.Session], h.Session
					m.mu.Unlock()
				}
				if last == nil {
					continue
				}
				last.deliver(datagram{data.CopyDatagram(b), ms[i].Addr, at})
			}
		}
		// Forget the session between batches: it may have ended.
		last = nil
	}
}

// ReadDatagrams hands the session every datagram already queued for it, up
// to len(ds), blocking (until the read deadline) only for the first. The
// datagrams are the mux's own copies, so they change hands without another
// copy, and a burst costs the session's reader one wake-up rather than one
// per datagram (data.DatagramReader).
func (c *sessionConn) ReadDatagrams(ds []data.Datagram) (int, error) {
	if len(ds) == 0 {
		return 0, nil
	}
	d, err := c.next()
	if err != nil {
		return 0, err
	}
	ds[0] = data.Datagram{B: d.b, From: d.from, At: d.at}
	n := 1
	for n < len(ds) {
		select {
		case d := <-c.in:
			ds[n] = data.Datagram{B: d.b, From: d.from, At: d.at}
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

var _ data.DatagramReader = (*sessionConn)(nil)

// next waits for the session's next datagram until the read deadline.
func (c *sessionConn) next() (datagram, error) {
	for {
		c.mu.Lock()
		dl, wake := c.deadline, c.wake
		c.mu.Unlock()
		var wait time.Duration
		if !dl.IsZero() {
			// As on a socket, a passed deadline fails the read even with
			// datagrams waiting: it is how the session stops its reader.
			if wait = time.Until(dl); wait <= 0 {
				return datagram{}, os.ErrDeadlineExceeded
			}
		}
		// The common case under load: a datagram is already waiting, and
		// no timer is needed to take it.
		select {
		case d := <-c.in:
			return d, nil
		default:
		}
		var timeout <-chan time.Time
		var t *time.Timer
		if !dl.IsZero() {
			t = time.NewTimer(wait)
			timeout = t.C
		}
		select {
		case d := <-c.in:
			stopTimer(t)
			return d, nil
		case <-c.closed:
			stopTimer(t)
			return datagram{}, net.ErrClosed
		case <-wake:
			stopTimer(t)
		case <-timeout:
			return datagram{}, os.ErrDeadlineExceeded
		}
	}
}
