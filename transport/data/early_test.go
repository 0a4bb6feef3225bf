package data

import (
	"context"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/transport/wire"
)

// dataCounter counts the DATA packets a sender writes.
type dataCounter struct {
	net.PacketConn
	data atomic.Int64
	seen chan struct{} // closed at the first DATA
	once sync.Once
}

func (c *dataCounter) WriteTo(b []byte, to net.Addr) (int, error) {
	if h, _, err := wire.ParseHeader(b); err == nil && h.Type == wire.TypeData {
		c.data.Add(1)
		c.once.Do(func() { close(c.seen) })
	}
	return c.PacketConn.WriteTo(b, to)
}

// TestFirstBytesLeaveBeforeTheAccept: a file's first bytes follow its
// FILE without waiting a round trip for the ACCEPT; the receiver holds
// them while it opens the file. The receiver here opens files only once
// DATA has been sent, which never happens if the sender waits.
func TestFirstBytesLeaveBeforeTheAccept(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 21))
	src, order := randomFiles(r, []int{3000, 70_000, 2 << 20, 0, 1})
	sc, rc := udpPair(t)
	counter := &dataCounter{PacketConn: sc, seen: make(chan struct{})}
	st := newStore()
	var waited atomic.Bool
	open := func(ctx context.Context, f FileInfo) (syncer.FileWriter, error) {
		select {
		case <-counter.seen:
		case <-time.After(5 * time.Second):
			waited.Store(true)
		}
		return st.open(ctx, f)
	}
	cfg := testConfig(r)
	cfg.Peer = rc.LocalAddr()
	snd, err := NewSender(counter, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rcfg := cfg
	rcfg.Peer = nil
	rcv, err := NewReceiver(rc, rcfg, open)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out sessionOut
	done := make(chan struct{})
	go func() {
		defer close(done)
		out.results, out.recvErr = rcv.Run(ctx)
	}()
	out.sendErrs, out.sendErr = snd.Run(ctx, sendFiles(src, order))
	<-done
	out.snd, out.rcv = snd.Stats(), rcv.Stats()
	if waited.Load() {
		t.Fatal("no DATA was sent before a file was opened and accepted: the first bytes wait a round trip")
	}
	checkDelivered(t, out, src, order, st)
}

// fileDropper loses the first FILE packet it is asked to send.
type fileDropper struct {
	net.PacketConn
	dropped atomic.Int64
}

func (c *fileDropper) WriteTo(b []byte, to net.Addr) (int, error) {
	if h, _, err := wire.ParseHeader(b); err == nil && h.Type == wire.TypeFile && c.dropped.CompareAndSwap(0, 1) {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, to)
}

// TestEarlyDataOfAnUnknownFileIsSentAgain: data that arrives before its
// FILE (lost here) cannot be kept; the receiver must not acknowledge it,
// or the sender would count it delivered and the file would never be
// complete.
func TestEarlyDataOfAnUnknownFileIsSentAgain(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 22))
	src, order := randomFiles(r, []int{200_000, 5_000, 90_000})
	sc, rc := udpPair(t)
	dropper := &fileDropper{PacketConn: sc}
	st := newStore()
	cfg := testConfig(r)
	rcfg := cfg
	cfg.Peer = rc.LocalAddr()
	snd, err := NewSender(dropper, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := NewReceiver(rc, rcfg, st.open)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out sessionOut
	done := make(chan struct{})
	go func() {
		defer close(done)
		out.results, out.recvErr = rcv.Run(ctx)
	}()
	out.sendErrs, out.sendErr = snd.Run(ctx, sendFiles(src, order))
	<-done
	out.snd, out.rcv = snd.Stats(), rcv.Stats()
	if dropped := dropper.dropped.Load(); dropped != 1 {
		t.Fatalf("%d FILE packets dropped, want 1", dropped)
	}
	checkDelivered(t, out, src, order, st)
	if out.snd.RetransmittedBytes == 0 {
		t.Fatal("nothing was sent again though the first file's early data had nowhere to go")
	}
	t.Logf("payload %d, retransmitted %d bytes", out.snd.PayloadBytes, out.snd.RetransmittedBytes)
}
