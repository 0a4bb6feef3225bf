package data

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/wire"
	"github.com/ferry-sync/ferry/tree"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomised tests (0: from FERRY_SEED or the clock)")

// noGROFlag runs every session with receive coalescing off (Config.NoGRO),
// to check the tests pass either way and to compare the benchmarks.
var noGROFlag = flag.Bool("nogro", false, "read datagram by datagram (Config.NoGRO) in every test session")

func testSeed(t testing.TB) uint64 {
	s := *seedFlag
	if s == 0 {
		if v, err := strconv.ParseUint(os.Getenv("FERRY_SEED"), 10, 64); err == nil {
			s = v
		}
	}
	if s == 0 {
		s = rand.Uint64()
	}
	t.Logf("seed %d (rerun with -seed=%d)", s, s)
	return s
}

// store is an in-memory destination: final files, partials and
// checkpoints by path, like localfs keeps them on disk.
type store struct {
	mu       sync.Mutex
	final    map[string][]byte
	partial  map[string][]byte
	ckpt     map[string][]byte
	opened   map[string]int
	mismatch map[string]int // Commit fails with ErrHashMismatch this many times
	refuse   map[string]error
}

func newStore() *store {
	return &store{final: map[string][]byte{}, partial: map[string][]byte{}, ckpt: map[string][]byte{},
		opened: map[string]int{}, mismatch: map[string]int{}, refuse: map[string]error{}}
}

func (s *store) open(_ context.Context, f FileInfo) (endpoint.FileWriter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened[f.Path]++
	if err := s.refuse[f.Path]; err != nil {
		return nil, err
	}
	return &memWriter{s: s, info: f, existing: int64(len(s.partial[f.Path]))}, nil
}

type memWriter struct {
	s        *store
	info     FileInfo
	existing int64
}

func (w *memWriter) WriteAt(p []byte, off int64) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	b := w.s.partial[w.info.Path]
	if need := off + int64(len(p)); int64(len(b)) < need {
		// Room for the whole file at once: growing by each packet's
		// bytes copied the file over and over, and held the store's lock
		// meanwhile, which was half a loopback benchmark's CPU.
		if int64(cap(b)) < need {
			nb := make([]byte, len(b), max(need, w.info.Size))
			copy(nb, b)
			b = nb
		}
		old := len(b)
		b = b[:need]
		clear(b[old:]) // a Truncate may have left bytes there
	}
	copy(b[off:], p)
	w.s.partial[w.info.Path] = b
	return len(p), nil
}

func (w *memWriter) ReadAt(p []byte, off int64) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	b := w.s.partial[w.info.Path]
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (w *memWriter) Commit() error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	b := w.s.partial[w.info.Path]
	if w.s.mismatch[w.info.Path] > 0 {
		w.s.mismatch[w.info.Path]--
		return fmt.Errorf("%s: %w", w.info.Path, endpoint.ErrHashMismatch)
	}
	if int64(len(b)) != w.info.Size || xxhash.Sum64(b) != w.info.Hash {
		return fmt.Errorf("%s: %w", w.info.Path, endpoint.ErrHashMismatch)
	}
	w.s.final[w.info.Path] = b
	delete(w.s.partial, w.info.Path)
	delete(w.s.ckpt, w.info.Path)
	return nil
}

func (w *memWriter) Abort() error { return nil }

func (w *memWriter) ExistingSize() int64 { return w.existing }

func (w *memWriter) SaveCheckpoint(b []byte) error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	w.s.ckpt[w.info.Path] = append([]byte(nil), b...)
	return nil
}

func (w *memWriter) LoadCheckpoint() ([]byte, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.ckpt[w.info.Path], nil
}

func (w *memWriter) Truncate(size int64) error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if b := w.s.partial[w.info.Path]; int64(len(b)) > size {
		w.s.partial[w.info.Path] = b[:size]
	}
	return nil
}

type memReader struct{ *bytes.Reader }

func (memReader) Close() error { return nil }

// source files for a test: path -> content.
func sendFiles(src map[string][]byte, order []string) []SendFile {
	var out []SendFile
	for _, p := range order {
		b := src[p]
		out = append(out, SendFile{
			Entry: tree.Entry{Path: p, Kind: tree.File, Size: int64(len(b)), Hash: xxhash.Sum64(b), Mode: 0o644, Mtime: 1},
			Open:  func() (endpoint.FileReader, error) { return memReader{bytes.NewReader(b)}, nil },
		})
	}
	return out
}

func randomFiles(r *rand.Rand, sizes []int) (map[string][]byte, []string) {
	src := map[string][]byte{}
	var order []string
	for i, n := range sizes {
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		p := fmt.Sprintf("d%d/f%04d.bin", i%7, i)
		src[p] = b
		order = append(order, p)
	}
	return src, order
}

func udpPair(t testing.TB) (a, b *net.UDPConn) {
	t.Helper()
	a, err := Listen("udp4", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err = Listen("udp4", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func testConfig(r *rand.Rand) Config {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(r.Uint32())
	}
	var sid wire.SessionID
	for i := range sid {
		sid[i] = byte(r.Uint32())
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return Config{Key: key, Session: sid, NoUDPTimeout: 3 * time.Second, IdleTimeout: 5 * time.Second, Log: log, NoGRO: *noGROFlag}
}

type sessionOut struct {
	sendErrs []error
	sendErr  error
	results  []Result
	recvErr  error
	snd      Stats
	rcv      Stats
}

// runSession runs a sender on sc and a receiver on rc; the sender knows
// the receiver's address, the receiver learns the sender's.
func runSession(t testing.TB, ctx context.Context, cfg Config, sc, rc net.PacketConn, files []SendFile, st *store) sessionOut {
	t.Helper()
	scfg, rcfg := cfg, cfg
	scfg.Peer = rc.LocalAddr()
	snd, err := NewSender(sc, scfg)
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := NewReceiver(rc, rcfg, st.open)
	if err != nil {
		t.Fatal(err)
	}
	var out sessionOut
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		out.results, out.recvErr = rcv.Run(ctx)
	}()
	out.sendErrs, out.sendErr = snd.Run(ctx, files)
	wg.Wait()
	out.snd, out.rcv = snd.Stats(), rcv.Stats()
	return out
}

func checkDelivered(t testing.TB, out sessionOut, src map[string][]byte, order []string, st *store) {
	t.Helper()
	if out.sendErr != nil || out.recvErr != nil {
		t.Fatalf("session: send %v, receive %v", out.sendErr, out.recvErr)
	}
	for i, err := range out.sendErrs {
		if err != nil {
			t.Errorf("file %s: %v", order[i], err)
		}
	}
	if len(out.results) != len(order) {
		t.Errorf("receiver reports %d files, want %d", len(out.results), len(order))
	}
	for _, r := range out.results {
		if r.Err != nil {
			t.Errorf("receiver: %s: %v", r.File.Path, r.Err)
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, p := range order {
		if got, ok := st.final[p]; !ok || !bytes.Equal(got, src[p]) {
			t.Errorf("%s: delivered %d bytes (present %v), want %d identical bytes", p, len(got), ok, len(src[p]))
		}
	}
}

// lossyConn drops, duplicates, corrupts and reorders outgoing datagrams.
// (transport/lossy is the shared wrapper; this small one keeps these tests
// independent of it.)
type lossyConn struct {
	net.PacketConn
	mu                                 sync.Mutex
	r                                  *rand.Rand
	loss, dup, corrupt, reorder        float64
	held                               []byte
	heldTo                             net.Addr
	dropped, duplicated, corrupted, re int
}

func (c *lossyConn) WriteTo(b []byte, to net.Addr) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.r.Float64() < c.loss {
		c.dropped++
		return len(b), nil
	}
	p := append([]byte(nil), b...)
	if c.r.Float64() < c.corrupt {
		c.corrupted++
		p[c.r.IntN(len(p))] ^= byte(1 + c.r.IntN(255))
	}
	if c.held == nil && c.r.Float64() < c.reorder {
		c.re++
		c.held, c.heldTo = p, to
		return len(b), nil
	}
	if _, err := c.PacketConn.WriteTo(p, to); err != nil {
		return 0, err
	}
	if c.held != nil {
		_, _ = c.PacketConn.WriteTo(c.held, c.heldTo)
		c.held = nil
	}
	if c.r.Float64() < c.dup {
		c.duplicated++
		_, _ = c.PacketConn.WriteTo(p, to)
	}
	return len(b), nil
}

var _ = errors.Is
