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
	mu        sync.Mutex
	seqs      []uint64 // in arrival order, intact packets only
	corrupted int
}

func (r *received) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seqs) + r.corrupted
}

// link sends n packets through a wrapper over real loopback UDP sockets
// and returns what arrived. It sends in batches and waits for each batch to
// arrive, so the kernel's socket buffer never overflows and every missing
// packet is the wrapper's doing.
func link(t *testing.T, cfg Config, n int) (*received, Stats) {
	t.Helper()
	rx, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	rx.(*net.UDPConn).SetReadBuffer(4 << 20) // best effort; capped by rmem_max
	raw, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tx := Wrap(raw, cfg)
	defer tx.Close()
	lc := tx.(*Conn)

	got := &received{}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		buf := make([]byte, 2048)
		for {
			k, _, err := rx.ReadFrom(buf)
			if err != nil {
				return
			}
			b := buf[:k]
			got.mu.Lock()
			if k == payloadLen && bytes.Equal(b, payload(binary.BigEndian.Uint64(b))) {
				got.seqs = append(got.seqs, binary.BigEndian.Uint64(b))
			} else {
				got.corrupted++
			}
			got.mu.Unlock()
		}
	}()

	const batch = 32
	for start := 0; start < n; start += batch {
		for seq := start; seq < min(start+batch, n); seq++ {
			if _, err := tx.WriteTo(payload(uint64(seq)), rx.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for lc.Pending() > 0 || got.count() < lc.Stats().Sent {
			if time.Now().After(deadline) {
				t.Fatalf("batch at %d: %d pending, %d of %d sent packets arrived", start, lc.Pending(), got.count(), lc.Stats().Sent)
			}
			time.Sleep(time.Millisecond) // waiting for delivery, not timing anything
		}
	}
	st := lc.Stats()
	rx.Close()
	<-readerDone
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
	rx, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	raw, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tx := Wrap(raw, Config{Delay: 30 * time.Millisecond})
	defer tx.Close()
	start := time.Now()
	if _, err := tx.WriteTo([]byte("x"), rx.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	rx.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	if _, _, err := rx.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	// A lower bound only: a loaded machine may add delay, never remove it.
	if el := time.Since(start); el < 30*time.Millisecond {
		t.Errorf("arrived after %v, want >= 30ms", el)
	}
}

func TestCloseLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		raw, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		tx := Wrap(raw, Config{Delay: time.Hour, Reorder: 0.5, Seed: int64(i)})
		for j := 0; j < 10; j++ {
			tx.WriteTo([]byte("queued"), raw.LocalAddr())
		}
		if err := tx.Close(); err != nil {
			t.Fatal(err)
		}
		if st := tx.(*Conn).Stats(); st.Discarded != 10 {
			t.Errorf("discarded %d queued packets at Close, want 10", st.Discarded)
		}
		if _, err := tx.WriteTo([]byte("late"), raw.LocalAddr()); err == nil {
			t.Errorf("WriteTo after Close succeeded")
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

func TestConcurrentWriters(t *testing.T) {
	seed := testSeed(t)
	raw, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	tx := Wrap(raw, Config{Loss: 0.1, Duplicate: 0.1, Corrupt: 0.1, Reorder: 0.1, Delay: time.Millisecond, Seed: seed})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				tx.WriteTo(payload(uint64(i)), sink.LocalAddr())
			}
		}()
	}
	wg.Wait()
	st := tx.(*Conn).Stats()
	if err := tx.Close(); err != nil {
		t.Fatal(err)
	}
	if st.Written != 2000 {
		t.Errorf("Written = %d, want 2000", st.Written)
	}
}
