package data

import (
	"context"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/transport/lossy"
	"github.com/ferry-sync/ferry/transport/wire"
)

// sizeConn stands for a kernel whose route to the peer takes datagrams up
// to limit bytes (0: any): a bigger one is refused with EMSGSIZE, as a
// socket with don't-fragment set refuses it once the device's MTU or an
// ICMP "fragmentation needed" says the path is smaller. After lowerAfter
// DATA datagrams (0: never) the limit drops to lowered: the path
// shrinking mid-session. With silent, a datagram over the limit is
// dropped as sent instead (a black hole: no ICMP comes back). It records
// what it let through.
type sizeConn struct {
	net.PacketConn
	silent              bool
	mu                  sync.Mutex
	limit, lowered      int
	lowerAfter, dataOut int
	refused, fragmented int
	biggest             int // largest datagram sent since the limit last changed
	biggestData         int // largest DATA datagram sent since then
}

func (c *sizeConn) WriteTo(b []byte, to net.Addr) (int, error) {
	c.mu.Lock()
	if c.limit > 0 && len(b) > c.limit {
		c.refused++
		c.mu.Unlock()
		if c.silent {
			return len(b), nil
		}
		return 0, &net.OpError{Op: "write", Net: "udp", Err: syscall.EMSGSIZE}
	}
	isData := false
	if h, _, err := wire.ParseHeader(b); err == nil && h.Type == wire.TypeData {
		isData = true
		c.dataOut++
		c.biggestData = max(c.biggestData, len(b))
	}
	c.biggest = max(c.biggest, len(b))
	if isData && c.lowerAfter > 0 && c.dataOut == c.lowerAfter {
		c.limit, c.biggest, c.biggestData = c.lowered, 0, 0
	}
	c.mu.Unlock()
	return c.PacketConn.WriteTo(b, to)
}

// WriteToFragmenting passes a datagram the limit refused: the kernel
// fragments it.
func (c *sizeConn) WriteToFragmenting(b []byte, to net.Addr) (int, error) {
	c.mu.Lock()
	c.fragmented++
	c.mu.Unlock()
	return c.PacketConn.WriteTo(b, to)
}

var _ FragmentingWriter = (*sizeConn)(nil)

// skipWithoutPMTU skips a test of sizing to the path where sessions keep
// to DefaultPacketSize (not Linux).
func skipWithoutPMTU(t *testing.T) {
	t.Helper()
	if !pmtuSupported {
		t.Skip("datagram sizes follow the path only on Linux")
	}
}

func TestSessionSendsFullMTUDatagrams(t *testing.T) {
	skipWithoutPMTU(t)
	r := rand.New(rand.NewPCG(testSeed(t), 11))
	src, order := randomFiles(r, []int{4 << 20, 1000, 70000})
	sc, rc := udpPair(t)
	rec := &sizeConn{PacketConn: sc}
	st := newStore()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := runSession(t, ctx, testConfig(r), rec, rc, sendFiles(src, order), st)
	checkDelivered(t, out, src, order, st)
	t.Logf("size %d, biggest DATA %d, %d datagrams", out.snd.PacketSize, rec.biggestData, out.snd.PacketsSent)
	if out.snd.PacketSize != ipv4PathMax || rec.biggestData != ipv4PathMax {
		t.Errorf("sending %d-byte datagrams (largest DATA %d), want %d: a 1,500-byte MTU over IPv4", out.snd.PacketSize, rec.biggestData, ipv4PathMax)
	}
}

func TestSessionKeepsGoingOnAPathThatDropsBigDatagrams(t *testing.T) {
	skipWithoutPMTU(t)
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 12))
	src, order := randomFiles(r, mixedSizes(r, 40))
	sc, rc := udpPair(t)
	// No ICMP comes back: datagrams above 1,300 bytes vanish, and 1 % of
	// the rest too.
	hole := lossy.Wrap(sc, lossy.Config{MaxSize: 1300, Loss: 0.01, Seed: int64(seed)})
	st := newStore()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := runSession(t, ctx, testConfig(r), hole, rc, sendFiles(src, order), st)
	checkDelivered(t, out, src, order, st)
	ls := hole.(*lossy.Conn).Stats()
	t.Logf("size %d; %d datagrams too big dropped, %d lost; retransmit share %.3f", out.snd.PacketSize, ls.TooBig, ls.Dropped, out.snd.RetransmitShare())
	if out.snd.PacketSize != SafePacketSize {
		t.Errorf("sending %d-byte datagrams, want %d", out.snd.PacketSize, SafePacketSize)
	}
	if ls.TooBig < 1 || ls.TooBig > probeTries {
		t.Errorf("%d datagrams too big for the path, want 1 to %d probes and no data", ls.TooBig, probeTries)
	}
}

func TestSessionResendsDataTheKernelRefusedAsTooBig(t *testing.T) {
	skipWithoutPMTU(t)
	r := rand.New(rand.NewPCG(testSeed(t), 13))
	src, order := randomFiles(r, []int{6 << 20, 3 << 20, 5000})
	sc, rc := udpPair(t)
	// The path shrinks to 1,300 bytes once 300 DATA datagrams are out:
	// those queued behind at the full size are refused.
	conn := &sizeConn{PacketConn: sc, lowerAfter: 300, lowered: 1300}
	st := newStore()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := runSession(t, ctx, testConfig(r), conn, rc, sendFiles(src, order), st)
	checkDelivered(t, out, src, order, st)
	t.Logf("size %d; %d refused, largest after the drop %d; %d send errors, %d lost", out.snd.PacketSize, conn.refused, conn.biggest, out.snd.SendErrors, out.snd.LostPackets)
	if conn.refused == 0 {
		t.Fatal("nothing refused: the test did not shrink the path")
	}
	// Loopback knows no smaller route, so the session goes to the size
	// every path takes.
	if out.snd.PacketSize != SafePacketSize || conn.biggest > 1300 {
		t.Errorf("size %d, largest datagram after the drop %d; want %d and at most 1300", out.snd.PacketSize, conn.biggest, SafePacketSize)
	}
	if out.snd.SendErrors != 0 {
		t.Errorf("%d send errors: a refused datagram is sent again smaller, not an error", out.snd.SendErrors)
	}
}

func TestSessionFallsBackWhenBigDatagramsStopGettingThrough(t *testing.T) {
	skipWithoutPMTU(t)
	r := rand.New(rand.NewPCG(testSeed(t), 16))
	src, order := randomFiles(r, []int{6 << 20, 3 << 20, 5000})
	sc, rc := udpPair(t)
	// After 300 DATA datagrams the path takes 1,300 bytes at most and
	// says nothing of the rest.
	conn := &sizeConn{PacketConn: sc, lowerAfter: 300, lowered: 1300, silent: true}
	st := newStore()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := runSession(t, ctx, testConfig(r), conn, rc, sendFiles(src, order), st)
	checkDelivered(t, out, src, order, st)
	t.Logf("size %d; %d dropped as too big; %d lost, retransmit share %.3f", out.snd.PacketSize, conn.refused, out.snd.LostPackets, out.snd.RetransmitShare())
	if conn.refused == 0 {
		t.Fatal("nothing dropped: the test did not shrink the path")
	}
	if out.snd.PacketSize != SafePacketSize {
		t.Errorf("size %d, want %d", out.snd.PacketSize, SafePacketSize)
	}
}

func TestSessionSendsAPathLongerThanTheDatagramSize(t *testing.T) {
	skipWithoutPMTU(t)
	r := rand.New(rand.NewPCG(testSeed(t), 14))
	long := strings.Repeat("directory/", 200) + "file.bin"
	src := map[string][]byte{long: []byte("a file with a long name"), "short": []byte("and one without")}
	order := []string{long, "short"}
	sc, rc := udpPair(t)
	conn := &sizeConn{PacketConn: sc, limit: ipv4PathMax}
	st := newStore()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := runSession(t, ctx, testConfig(r), conn, rc, sendFiles(src, order), st)
	checkDelivered(t, out, src, order, st)
	if conn.fragmented == 0 {
		t.Errorf("the FILE of a %d-byte path went whole", len(long))
	}
}
