package coalesce

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

var seed = flag.Uint64("seed", 0, "seed of the randomised tests (0: from the clock)")

func testSeed(t *testing.T) uint64 {
	s := *seed
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed %d)", s, s)
	return s
}

// tcpPair is a connected loopback TCP pair.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			acc <- nil
			return
		}
		acc <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-acc
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// gated is a net.Conn whose writes wait for the gate and are recorded.
type gated struct {
	net.Conn // nil: only Write, Close and SetWriteDeadline are used
	gate     chan struct{}
	mu       sync.Mutex
	writes   [][]byte
	closed   bool
	fail     error
	deadline time.Time
}

func (g *gated) Write(p []byte) (int, error) {
	<-g.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail != nil {
		return 0, g.fail
	}
	g.writes = append(g.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (g *gated) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	return nil
}

func (g *gated) SetWriteDeadline(t time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deadline = t
	return nil
}

func (g *gated) snapshot() ([][]byte, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([][]byte(nil), g.writes...), g.closed
}

// waitFor polls cond for at most 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestWritesQueuedDuringAWriteLeaveInTheNextOne(t *testing.T) {
	g := &gated{gate: make(chan struct{})}
	w := Wrap(g)
	if _, err := w.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	// The flusher has taken "first" and waits in the wrapped Write; the
	// next hundred messages queue behind it.
	waitFor(t, "the flusher to take the first message", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.pending) == 0
	})
	var want []byte
	for i := range 100 {
		m := []byte{byte(i), 'm'}
		want = append(want, m...)
		if _, err := w.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	close(g.gate)
	waitFor(t, "both writes", func() bool { got, _ := g.snapshot(); return len(got) == 2 })
	got, _ := g.snapshot()
	if string(got[0]) != "first" || string(got[1]) != string(want) {
		t.Fatalf("writes %q, want %q then the hundred messages in order", got, "first")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentWritersKeepMessagesWholeAndInOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 1))
	a, b := tcpPair(t)
	w := Wrap(a)
	const writers, each = 8, 500
	sizes := make([][]int, writers)
	for i := range sizes {
		for range each {
			sizes[i] = append(sizes[i], 8+rng.IntN(3000))
		}
	}
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			for seq, n := range sizes[i] {
				// Message: writer, seq, length, then the length repeated
				// as filler so a torn message is caught.
				m := make([]byte, n)
				binary.BigEndian.PutUint16(m[0:], uint16(i))
				binary.BigEndian.PutUint16(m[2:], uint16(seq))
				binary.BigEndian.PutUint32(m[4:], uint32(n))
				for k := 8; k < n; k++ {
					m[k] = byte(n + k)
				}
				if _, err := w.Write(m); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	r := bufio.NewReader(b)
	next := make([]int, writers)
	b.SetReadDeadline(time.Now().Add(30 * time.Second))
	for range writers * each {
		var h [8]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			t.Fatal(err)
		}
		id, seq, n := int(binary.BigEndian.Uint16(h[0:])), int(binary.BigEndian.Uint16(h[2:])), int(binary.BigEndian.Uint32(h[4:]))
		if id >= writers || seq != next[id] || n != sizes[id][seq] {
			t.Fatalf("message writer %d seq %d len %d; want seq %d of that writer", id, seq, n, next[min(id, writers-1)])
		}
		next[id]++
		body := make([]byte, n-8)
		if _, err := io.ReadFull(r, body); err != nil {
			t.Fatal(err)
		}
		for k, c := range body {
			if c != byte(n+k+8) {
				t.Fatalf("writer %d seq %d: byte %d torn", id, seq, k+8)
			}
		}
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWriteErrorIsReportedAndClosesTheConnection(t *testing.T) {
	boom := errors.New("link down")
	g := &gated{gate: make(chan struct{}), fail: boom}
	close(g.gate)
	w := Wrap(g)
	if _, err := w.Write([]byte("lost")); err != nil {
		t.Fatalf("the first write is only queued: %v", err)
	}
	var err error
	waitFor(t, "the error", func() bool { _, err = w.Write([]byte("x")); return err != nil })
	if !errors.Is(err, boom) {
		t.Fatalf("Write after a failed flush = %v, want %v", err, boom)
	}
	if _, closed := g.snapshot(); !closed {
		t.Fatal("the wrapped connection was left open after a write error, so reads would hang")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseSendsWhatIsQueued(t *testing.T) {
	g := &gated{gate: make(chan struct{})}
	w := Wrap(g)
	for _, m := range []string{"a", "b", "c"} {
		w.Write([]byte(m))
	}
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	close(g.gate)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	got, isClosed := g.snapshot()
	var all string
	for _, p := range got {
		all += string(p)
	}
	if all != "abc" || !isClosed {
		t.Fatalf("after Close: sent %q (closed %v), want \"abc\" and closed", all, isClosed)
	}
	if g.deadline.IsZero() {
		t.Fatal("Close set no write deadline: a stalled peer could hold it forever")
	}
	if _, err := w.Write([]byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close = %v, want ErrClosed", err)
	}
}

// stalledQueue is a Conn whose peer never reads, written to until its
// queue is full (the socket buffers are by then); a writer is left blocked
// in Write, or failing once the Conn is closed.
func stalledQueue(t *testing.T) *Conn {
	t.Helper()
	a, _ := tcpPair(t)
	w := Wrap(a)
	chunk := make([]byte, 64<<10)
	full := make(chan struct{})
	go func() {
		for range 1 << 12 {
			if _, err := w.Write(chunk); err != nil {
				break
			}
			w.mu.Lock()
			if len(w.pending) >= MaxPending {
				select {
				case <-full:
				default:
					close(full)
				}
			}
			w.mu.Unlock()
		}
	}()
	select {
	case <-full:
	case <-time.After(20 * time.Second):
		t.Fatal("the queue never filled")
	}
	return w
}

func TestCloseReturnsWhenThePeerStopsReading(t *testing.T) {
	w := stalledQueue(t)
	start := time.Now()
	w.Close()
	if d := time.Since(start); d > CloseTimeout+5*time.Second {
		t.Fatalf("Close took %v with a peer that does not read", d)
	}
}

func TestWriteWaitsWhileTheQueueIsFull(t *testing.T) {
	g := &gated{gate: make(chan struct{})}
	w := Wrap(g)
	w.Write([]byte("x"))
	waitFor(t, "the flusher to take the first message", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.pending) == 0
	})
	w.Write(make([]byte, MaxPending))
	returned := make(chan struct{})
	go func() {
		w.Write([]byte("y"))
		close(returned)
	}()
	select {
	case <-returned:
		t.Fatal("Write returned with MaxPending bytes queued")
	case <-time.After(50 * time.Millisecond):
	}
	close(g.gate)
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("Write still blocked after the queue drained")
	}
	w.Close()
	got, _ := g.snapshot()
	n := 0
	for _, p := range got {
		n += len(p)
	}
	if n != MaxPending+2 {
		t.Fatalf("sent %d bytes, want %d", n, MaxPending+2)
	}
}

// tokenConn records each write after taking a token, so a test decides
// when a write completes and sees the bytes as they are at that moment.
type tokenConn struct {
	gated
	tokens chan struct{}
}

func (c *tokenConn) Write(p []byte) (int, error) {
	<-c.tokens
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

// taken waits until the flusher has taken what was queued.
func taken(t *testing.T, w *Conn) {
	waitFor(t, "the flusher to take the queue", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.pending) == 0
	})
}

// TestBigBatchDoesNotShareItsBufferWithTheNext: after a batch larger than
// the spare buffer keeps, messages queued during the next write must not
// land in the bytes that write is sending (they did: the spare buffer was
// the one the queue was using).
func TestBigBatchDoesNotShareItsBufferWithTheNext(t *testing.T) {
	c := &tokenConn{tokens: make(chan struct{})}
	w := Wrap(c)
	defer func() {
		close(c.tokens)
		w.Close()
	}()
	w.Write(bytes.Repeat([]byte("x"), 2000))
	taken(t, w)
	c.tokens <- struct{}{} // written; its buffer, room for the b's, becomes the spare
	waitFor(t, "the first write", func() bool { got, _ := c.snapshot(); return len(got) == 1 })
	w.Write(bytes.Repeat([]byte("a"), 3*MaxPending))
	taken(t, w)
	want := bytes.Repeat([]byte("b"), 1000)
	w.Write(want) // queued in the spare buffer while the big batch is written
	c.tokens <- struct{}{}
	taken(t, w) // the b's are being written
	w.Write(bytes.Repeat([]byte("c"), 1000))
	c.tokens <- struct{}{}
	waitFor(t, "the b's", func() bool { got, _ := c.snapshot(); return len(got) == 3 })
	got, _ := c.snapshot()
	if !bytes.Equal(got[2], want) {
		t.Fatalf("third write %q..., want 1000 b's: a later message overwrote it", got[2][:min(len(got[2]), 16)])
	}
}

// TestWriteDuringCloseFailsRatherThanVanishes: once Close has sent what
// was queued, a Write fails instead of being accepted and never sent.
func TestWriteDuringCloseFailsRatherThanVanishes(t *testing.T) {
	g := &gated{gate: make(chan struct{})}
	close(g.gate)
	w := Wrap(g)
	w.Close()
	if _, err := w.Write([]byte("late")); !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close = %v, want ErrClosed wrapping net.ErrClosed", err)
	}
}

// TestAbortDoesNotWaitForAStalledPeer: a connection given up as dead is
// closed at once, not after CloseTimeout, and takes no more writes.
func TestAbortDoesNotWaitForAStalledPeer(t *testing.T) {
	w := stalledQueue(t)
	start := time.Now()
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= CloseTimeout {
		t.Fatalf("Abort took %v: it waited for the stalled peer like Close", d)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Abort = %v, want ErrClosed", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close after Abort: %v", err)
	}
}
