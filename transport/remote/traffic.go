package remote

import (
	"net"
	"sync/atomic"

	"github.com/ferry-sync/ferry/transport/data"
)

// Traffic is what an endpoint has moved on the network since it was made,
// over every connection and data session it has had, and the UDP data
// sessions running now. Every count only grows.
type Traffic struct {
	// Sent and Received are bytes on the network: the SSH connection's
	// (TCP payload, its encryption included) and the UDP data
	// sessions' datagrams.
	Sent, Received uint64
	// Retransmitted counts file bytes sent again over UDP; Lost, data
	// packets the sender judged lost.
	Retransmitted, Lost uint64
	// Sessions are the figures of the UDP data sessions running now
	// (RTT, pacing and target rate).
	Sessions []data.Stats
}

// Traffic returns the endpoint's traffic so far. Safe for concurrent use.
func (e *Endpoint) Traffic() Traffic {
	e.mu.Lock()
	all := []data.Stats{e.ended}
	var live []data.Stats
	for _, s := range e.sessions {
		live = append(live, s.stats())
	}
	e.mu.Unlock()
	udp := data.Sum(append(all, live...)...)
	return Traffic{
		Sent:          udp.BytesSent + e.tcp.sent.Load(),
		Received:      udp.BytesReceived + e.tcp.received.Load(),
		Retransmitted: udp.RetransmittedBytes,
		Lost:          udp.LostPackets,
		Sessions:      live,
	}
}

// tcpCount is the bytes read and written on SSH connections.
type tcpCount struct {
	sent, received atomic.Uint64
}

// countedConn counts what crosses c into n.
type countedConn struct {
	net.Conn
	n *tcpCount
}

func (c countedConn) Read(p []byte) (int, error) {
	k, err := c.Conn.Read(p)
	c.n.received.Add(uint64(k))
	return k, err
}

func (c countedConn) Write(p []byte) (int, error) {
	k, err := c.Conn.Write(p)
	c.n.sent.Add(uint64(k))
	return k, err
}
