package data

import (
	"context"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/transport/wire"
)

// noFin drops every FIN the receiver sends: its answer to the sender's
// DONE, lost on the way back.
type noFin struct {
	net.PacketConn
	dropped atomic.Int64
}

func (c *noFin) WriteTo(b []byte, addr net.Addr) (int, error) {
	if h, _, err := wire.ParseHeader(b); err == nil && h.Type == wire.TypeFin {
		c.dropped.Add(1)
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, addr)
}

// TestLostFinsDoNotFailAFinishedSession: once every file's result is in,
// the sender says DONE and the receiver answers FIN and leaves. With both
// FINs lost the sender resends DONE with backoff, and it used to give up
// with ErrIdle when the silence outlasted IdleTimeout before its fifth DONE,
// failing a session whose every file had arrived (seen once in about 20
// runs of TestSessionOverLossyLink/loss10 under load). The backoff here
// (a PTO of at least 400 ms: 0.4+0.8+1.6+3 s) is well past the 2 s
// IdleTimeout, so the old code fails every time.
func TestLostFinsDoNotFailAFinishedSession(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 11))
	src, order := randomFiles(r, []int{1000, 20000, 300})
	sc, rc := udpPair(t)
	lr := &noFin{PacketConn: rc}
	cfg := testConfig(r)
	cfg.FeedbackInterval = 200 * time.Millisecond
	cfg.IdleTimeout = 2 * time.Second
	st := newStore()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := runSession(t, ctx, cfg, sc, lr, sendFiles(src, order), st)
	if lr.dropped.Load() == 0 {
		t.Fatal("the receiver sent no FIN: the test proves nothing")
	}
	checkDelivered(t, out, src, order, st)
}
