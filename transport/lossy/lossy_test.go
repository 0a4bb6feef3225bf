package lossy

import (
	"bytes"
	"encoding/binary"
	"flag"
	"math"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

var seedFlag = flag.Int64("lossy.seed", 0, "seed (0: from FERRY_SEED or the time)")

func testSeed(t *testing.T) int64 {
	t.Helper()
	s := *seedFlag
	if s == 0 {
		if v, err := strconv.ParseInt(os.Getenv("FERRY_SEED"), 10, 64); err == nil {
			s = v
		}
	}
	if s == 0 {
		s = time.Now().UnixNano()
	}
	t.Logf("seed %d (rerun with -lossy.seed=%d)", s, s)
	return s
}

const payloadLen = 64

// payload is seq followed by bytes derived from seq, so the receiver can
// tell corruption from reordering.
func payload(seq uint64) []byte {
	b := make([]byte, payloadLen)
	binary.BigEndian.PutUint64(b, seq)
	for i := 8; i < len(b); i++ {
		// Every byte of seq recurs in the tail, so a flip anywhere shows.
		b[i] = byte(seq>>(8*(i%8))) ^ byte(i*37)
	}
	return b
}

type received struct {
	seqs      []uint64 // in the order sent, intact packets only
	corrupted int
}

// sink stands in for the network under the wrapper: an in-memory
// net.PacketConn that keeps every datagram the wrapper hands it. A test
// counts exactly what the wrapper sent; real loopback UDP may drop a
// datagram under load, and a count over it would blame the wrapper.
type sink struct {
	mu      sync.Mutex
	got     [][]byte
	at      []time.Time
	more    chan struct{} // signalled after each datagram
	closed  chan struct{}
	closing sync.Once
}

func newSink() *sink {
	return &sink{more: make(chan struct{}, 1), closed: make(chan struct{})}
}

type sinkAddr struct{}

func (sinkAddr) Network() string { return "mem" }
func (sinkAddr) String() string  { return "sink" }

func (s *sink) WriteTo(b []byte, _ net.Addr) (int, error) {
	s.mu.Lock()
	s.got = append(s.got, append([]byte(nil), b...))
	s.at = append(s.at, time.Now())
	s.mu.Unlock()
	select {
	case s.more <- struct{}{}:
	default:
	}
	return len(b), nil
}

func (s *sink) ReadFrom([]byte) (int, net.Addr, error) {
	<-s.closed
	return 0, nil, net.ErrClosed
}

func (s *sink) Close() error {
	s.closing.Do(func() { close(s.closed) })
	return nil
}

func (s *sink) LocalAddr() net.Addr              { return sinkAddr{} }
func (s *sink) SetDeadline(time.Time) error      { return nil }
func (s *sink) SetReadDeadline(time.Time) error  { return nil }
func (s *sink) SetWriteDeadline(time.Time) error { return nil }

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// owed is how many datagrams the wrapper has taken on to send: one per
// write it did not drop, two for a duplicated one, less those its full
// queue refused.
func owed(st Stats) int { return st.Written - st.Dropped - st.TooBig + st.Duplicated - st.Overflow }

// waitSent blocks until the sink holds every datagram the wrapper owes
// (a held-back packet goes out when its hold ends). The deadline only
// turns a hang into a failure.
func waitSent(t *testing.T, lc *Conn, s *sink) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for s.count() < owed(lc.Stats()) {
		select {
		case <-s.more:
		case <-deadline.C:
			t.Fatalf("%d of %d datagrams reached the sink, %d pending", s.count(), owed(lc.Stats()), lc.Pending())
		}
	}
}

// link sends n packets through a wrapper over an in-memory sink and
// returns what the wrapper sent on. It sends in batches and waits for each
// to go out, so the wrapper's queue never overflows and every missing
// packet is a drop the wrapper decided.
func link(t *testing.T, cfg Config, n int) (*received, Stats) {
	t.Helper()
	s := newSink()
	tx := Wrap(s, cfg)
	defer tx.Close()
	lc := tx.(*Conn)

	const batch = 32
	for start := 0; start < n; start += batch {
		for seq := start; seq < min(start+batch, n); seq++ {
			if _, err := tx.WriteTo(payload(uint64(seq)), sinkAddr{}); err != nil {
				t.Fatal(err)
			}
		}
		waitSent(t, lc, s)
	}
	st := lc.Stats()
	if st.Overflow != 0 || st.Errors != 0 {
		t.Fatalf("stats %+v: the wrapper refused packets", st)
	}
	got := &received{}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.got {
		if len(b) == payloadLen && bytes.Equal(b, payload(binary.BigEndian.Uint64(b))) {
			got.seqs = append(got.seqs, binary.BigEndian.Uint64(b))
		} else {
			got.corrupted++
		}
	}
	return got, st
}

func TestLossRate(t *testing.T) {
	seed := testSeed(t)
	const n, p = 10000, 0.05
	got, st := link(t, Config{Loss: p, Seed: seed}, n)
	// Binomial: sd = sqrt(n p (1-p)) ≈ 22; allow 5 sd.
	tol := 5 * math.Sqrt(n*p*(1-p))
	arrived := len(got.seqs)
	t.Logf("%d of %d arrived, %d dropped", arrived, n, st.Dropped)
	if math.Abs(float64(n-arrived)-n*p) > tol {
		t.Errorf("%d of %d lost, want %.0f ± %.0f", n-arrived, n, n*p, tol)
	}
	if st.Dropped != n-arrived {
		t.Errorf("Stats.Dropped = %d but %d did not arrive", st.Dropped, n-arrived)
	}
	seen := map[uint64]bool{}
	for _, s := range got.seqs {
		if seen[s] {
			t.Fatalf("packet %d arrived twice with no duplication configured", s)
		}
		seen[s] = true
	}
}

func TestReorder(t *testing.T) {
	seed := testSeed(t)
	const n = 2000
	got, st := link(t, Config{Reorder: 0.1, Seed: seed}, n)
	inversions := 0
	for i := 1; i < len(got.seqs); i++ {
		if got.seqs[i] < got.seqs[i-1] {
			inversions++
		}
	}
	t.Logf("%d reordered, %d inversions seen", st.Reordered, inversions)
	if len(got.seqs) != n {
		t.Errorf("%d of %d arrived: reordering must not lose packets", len(got.seqs), n)
	}
	if st.Reordered < n/20 || inversions < st.Reordered/2 {
		t.Errorf("reordered %d, inversions %d: want about 10%% of %d both", st.Reordered, inversions, n)
	}
}

func TestCorruptChangesBytes(t *testing.T) {
	seed := testSeed(t)
	const n = 2000
	got, st := link(t, Config{Corrupt: 0.2, Seed: seed}, n)
	t.Logf("%d corrupted by the wrapper, %d arrived damaged", st.Corrupted, got.corrupted)
	if got.corrupted != st.Corrupted {
		t.Errorf("%d packets arrived damaged, the wrapper corrupted %d", got.corrupted, st.Corrupted)
	}
	if got.corrupted < n/10 || got.corrupted > 3*n/10 {
		t.Errorf("%d of %d damaged, want about 20%%", got.corrupted, n)
	}
	if len(got.seqs)+got.corrupted != n {
		t.Errorf("%d intact + %d damaged != %d sent", len(got.seqs), got.corrupted, n)
	}
}

func TestDuplicate(t *testing.T) {
	seed := testSeed(t)
	const n = 2000
	got, st := link(t, Config{Duplicate: 0.1, Seed: seed}, n)
	count := map[uint64]int{}
	for _, s := range got.seqs {
		count[s]++
	}
	dups := 0
	for _, c := range count {
		if c == 2 {
			dups++
		} else if c != 1 {
			t.Errorf("a packet arrived %d times", c)
		}
	}
	t.Logf("%d duplicated, %d arrived twice", st.Duplicated, dups)
	if len(count) != n || dups != st.Duplicated || dups < n/20 {
		t.Errorf("%d distinct of %d, %d arrived twice, wrapper duplicated %d", len(count), n, dups, st.Duplicated)
	}
}

func TestDelay(t *testing.T) {
	s := newSink()
	tx := Wrap(s, Config{Delay: 30 * time.Millisecond})
	defer tx.Close()
	start := time.Now()
	if _, err := tx.WriteTo([]byte("x"), sinkAddr{}); err != nil {
		t.Fatal(err)
	}
	waitSent(t, tx.(*Conn), s)
	// A lower bound only: a loaded machine may add delay, never remove it.
	if el := s.at[0].Sub(start); el < 30*time.Millisecond {
		t.Errorf("sent after %v, want >= 30ms", el)
	}
}

func TestCloseLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		s := newSink()
		tx := Wrap(s, Config{Delay: time.Hour, Reorder: 0.5, Seed: int64(i)})
		for j := 0; j < 10; j++ {
			tx.WriteTo([]byte("queued"), sinkAddr{})
		}
		if err := tx.Close(); err != nil {
			t.Fatal(err)
		}
		if st := tx.(*Conn).Stats(); st.Discarded != 10 || s.count() != 0 {
			t.Errorf("discarded %d queued packets at Close and sent %d, want 10 and 0", st.Discarded, s.count())
		}
		if _, err := tx.WriteTo([]byte("late"), sinkAddr{}); err == nil {
			t.Errorf("WriteTo after Close succeeded")
		}
		select {
		case <-s.closed:
		default:
			t.Errorf("Close left the wrapped conn open")
		}
	}
	// Close waits for the sender goroutine, so the count is back at once;
	// the loop only tolerates unrelated runtime goroutines settling.
	var after int
	for i := 0; i < 50; i++ {
		if after = runtime.NumGoroutine(); after <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d goroutines after closing 20 wrappers, %d before", after, before)
}

// TestConcurrentWriters: writers racing each other and the sender
// goroutine, with every impairment on, lose no packet from the books:
// each one the wrapper took on was sent or discarded at Close.
func TestConcurrentWriters(t *testing.T) {
	seed := testSeed(t)
	s := newSink()
	tx := Wrap(s, Config{Loss: 0.1, Duplicate: 0.1, Corrupt: 0.1, Reorder: 0.1, Delay: time.Millisecond, Seed: seed})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				tx.WriteTo(payload(uint64(i)), sinkAddr{})
			}
		}()
	}
	wg.Wait()
	if err := tx.Close(); err != nil {
		t.Fatal(err)
	}
	st := tx.(*Conn).Stats()
	if st.Written != 2000 {
		t.Errorf("Written = %d, want 2000", st.Written)
	}
	if st.Sent+st.Discarded+st.Errors != owed(st) || st.Sent != s.count() {
		t.Errorf("stats %+v: sent+discarded+errors != %d taken on, or the sink got %d", st, owed(st), s.count())
	}
}

func TestMaxSizeDropsOnlyBiggerDatagrams(t *testing.T) {
	s := newSink()
	tx := Wrap(s, Config{MaxSize: 100})
	defer tx.Close()
	for _, n := range []int{1, 100, 101, 1500, 99} {
		if _, err := tx.WriteTo(make([]byte, n), sinkAddr{}); err != nil {
			t.Fatal(err)
		}
	}
	waitSent(t, tx.(*Conn), s)
	s.mu.Lock()
	var sizes []int
	for _, b := range s.got {
		sizes = append(sizes, len(b))
	}
	s.mu.Unlock()
	if st := tx.(*Conn).Stats(); st.TooBig != 2 || len(sizes) != 3 || sizes[0] != 1 || sizes[1] != 100 || sizes[2] != 99 {
		t.Errorf("arrived %v, TooBig %d; want [1 100 99] and 2", sizes, st.TooBig)
	}
}
