package data

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
)

func TestSplitFile(t *testing.T) {
	const mib = 1 << 20
	if got := SplitFile(10*mib, 0, 4, mib); got != nil {
		t.Errorf("threshold 0 split: %v", got)
	}
	if got := SplitFile(10*mib, 11*mib, 4, mib); got != nil {
		t.Errorf("below threshold split: %v", got)
	}
	if got := SplitFile(10*mib, mib, 1, mib); got != nil {
		t.Errorf("one session split: %v", got)
	}
	if got := SplitFile(mib, mib, 4, mib); got != nil {
		t.Errorf("one chunk split: %v", got)
	}
	for _, c := range []struct {
		size  int64
		n     int
		parts int
	}{{10*mib + 5, 4, 4}, {3 * mib, 4, 3}, {16*mib - 1, 16, 16}, {100*mib + 1, 3, 3}} {
		got := SplitFile(c.size, mib, c.n, mib)
		if len(got) != c.parts {
			t.Errorf("%d bytes over %d: %d parts, want %d", c.size, c.n, len(got), c.parts)
			continue
		}
		at := int64(0)
		for i, p := range got {
			if p.Off != at || p.Len <= 0 || (i < len(got)-1 && (p.Off+p.Len)%mib != 0) {
				t.Errorf("%d bytes over %d: part %d is %+v", c.size, c.n, i, p)
			}
			at += p.Len
		}
		if at != c.size {
			t.Errorf("%d bytes over %d: parts end at %d", c.size, c.n, at)
		}
	}
}

// splitSessions runs one session per part of src[big] (and the small files
// dealt round the sessions), each over its own pair of sockets and its own
// key, all receiving into one Parts. only, if set, lists the sessions that
// run (the others never start). It returns each session's outcome.
func splitSessions(t *testing.T, r *rand.Rand, src map[string][]byte, big string, small []string, n int, st *store, only ...int) []sessionOut {
	t.Helper()
	const cs = 64 << 10
	parts := SplitFile(int64(len(src[big])), 1, n, cs)
	if len(parts) != n {
		t.Fatalf("%d parts, want %d", len(parts), n)
	}
	run := map[int]bool{}
	for _, i := range only {
		run[i] = true
	}
	joined := NewParts(context.Background())
	defer joined.Close()
	open := func(ctx context.Context, f FileInfo) (endpoint.FileWriter, error) {
		if f.Split() {
			return joined.Open(ctx, f, st.open)
		}
		return st.open(ctx, f)
	}
	outs := make([]sessionOut, n)
	var wg sync.WaitGroup
	for i := range n {
		if len(only) > 0 && !run[i] {
			continue
		}
		files := sendFiles(src, []string{big})
		files[0].Part = parts[i]
		for j, p := range small {
			if j%n == i {
				files = append(files, sendFiles(src, []string{p})...)
			}
		}
		cfg := testConfig(r)
		cfg.ChunkSize = cs
		sc, rc := udpPair(t)
		lc := &lossyConn{PacketConn: sc, r: rand.New(rand.NewPCG(r.Uint64(), 1)), loss: 0.02, reorder: 0.02, dup: 0.01}
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i] = runSessionWith(t, context.Background(), cfg, lc, rc, files, open)
		}()
	}
	wg.Wait()
	return outs
}

func runSessionWith(t testing.TB, ctx context.Context, cfg Config, sc, rc net.PacketConn, files []SendFile, open OpenFunc) sessionOut {
	scfg := cfg
	scfg.Peer = rc.LocalAddr()
	snd, err := NewSender(sc, scfg)
	if err != nil {
		t.Error(err)
		return sessionOut{}
	}
	rcv, err := NewReceiver(rc, cfg, open)
	if err != nil {
		t.Error(err)
		return sessionOut{}
	}
	var out sessionOut
	done := make(chan struct{})
	go func() {
		defer close(done)
		out.results, out.recvErr = rcv.Run(ctx)
	}()
	out.sendErrs, out.sendErr = snd.Run(ctx, files)
	<-done
	out.snd, out.rcv = snd.Stats(), rcv.Stats()
	return out
}

func TestSplitFileAcrossSessions(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 31))
	src, order := randomFiles(r, []int{3<<20 + 4321, 1000, 70000, 5, 200000, 0})
	big, small := order[0], order[1:]
	st := newStore()
	outs := splitSessions(t, r, src, big, small, 3, st)
	parts := SplitFile(int64(len(src[big])), 1, 3, 64<<10)
	for i, out := range outs {
		if out.sendErr != nil || out.recvErr != nil {
			t.Fatalf("session %d: send %v, receive %v", i, out.sendErr, out.recvErr)
		}
		for j, err := range out.sendErrs {
			if err != nil {
				t.Errorf("session %d file %d: %v", i, j, err)
			}
		}
		// A session sends its part of the big file, not the rest.
		own := int64(0)
		for j, p := range small {
			if j%3 == i {
				own += int64(len(src[p]))
			}
		}
		if got, want := int64(out.snd.PayloadBytes), parts[i].Len+own; got != want {
			t.Errorf("session %d sent %d new payload bytes, want %d (its part %d and its small files %d)", i, got, want, parts[i].Len, own)
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, p := range order {
		if got, ok := st.final[p]; !ok || !bytes.Equal(got, src[p]) {
			t.Errorf("%s: %d bytes (present %v), want %d identical", p, len(got), ok, len(src[p]))
		}
	}
	if st.opened[big] != 1 {
		t.Errorf("the split file was opened %d times, want once for all its parts", st.opened[big])
	}
}

func TestSplitFileResumesTheFinishedParts(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 32))
	src, order := randomFiles(r, []int{4<<20 + 77})
	big := order[0]
	st := newStore()
	// Sessions 0 and 2 finish their parts; session 1 never runs (killed
	// before it started): the file is not committed, its partial and the
	// checkpoint of parts 0 and 2 are kept.
	first := splitSessions(t, r, src, big, nil, 3, st, 0, 2)
	for _, i := range []int{0, 2} {
		if first[i].sendErrs[0] != nil {
			t.Fatalf("first round, part %d: %v", i, first[i].sendErrs[0])
		}
	}
	st.mu.Lock()
	_, committed := st.final[big]
	ck := st.ckpt[big]
	st.mu.Unlock()
	if committed || len(ck) == 0 {
		t.Fatalf("with a part missing: committed %v, checkpoint %d bytes; want uncommitted with a checkpoint", committed, len(ck))
	}
	second := splitSessions(t, r, src, big, nil, 3, st)
	parts := SplitFile(int64(len(src[big])), 1, 3, 64<<10)
	for i, out := range second {
		if out.sendErr != nil || out.sendErrs[0] != nil {
			t.Fatalf("second round, part %d: %v, %v", i, out.sendErr, out.sendErrs[0])
		}
		want := int64(0)
		if i == 1 {
			want = parts[1].Len
		}
		if got := int64(out.snd.PayloadBytes); got != want {
			t.Errorf("second round, part %d sent %d bytes, want %d (finished parts resume, the missing one goes whole)", i, got, want)
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if !bytes.Equal(st.final[big], src[big]) {
		t.Fatalf("split file after resume: %d bytes, not the source's %d", len(st.final[big]), len(src[big]))
	}
}

func TestPartWriterKeepsToItsRange(t *testing.T) {
	st := newStore()
	p := NewParts(context.Background())
	defer p.Close()
	w, err := p.Open(context.Background(), FileInfo{Path: "a", Size: 100, Part: chunk.Range{Off: 50, Len: 50}}, st.open)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte("x"), 49); err == nil {
		t.Error("a write before the part's range was taken")
	}
	if _, err := w.WriteAt([]byte("xy"), 99); err == nil {
		t.Error("a write past the part's range was taken")
	}
	if _, err := p.Open(context.Background(), FileInfo{Path: "a", Size: 101, Part: chunk.Range{Off: 0, Len: 50}}, st.open); err == nil {
		t.Error("a part of another version opened while this one is open")
	}
}

// abortCounter is a store writer that counts its aborts.
type abortCounter struct {
	*memWriter
	aborts *atomic.Int32
}

func (w abortCounter) Abort() error { w.aborts.Add(1); return nil }

// A file whose only part gave up while the file was still opening (its
// session ended) is aborted once open, not left holding its partial.
func TestPartGivenUpWhileOpeningAbortsTheFile(t *testing.T) {
	st := newStore()
	var aborts atomic.Int32
	release := make(chan struct{})
	open := func(ctx context.Context, f FileInfo) (endpoint.FileWriter, error) {
		<-release
		w, err := st.open(ctx, f)
		if err != nil {
			return nil, err
		}
		return abortCounter{w.(*memWriter), &aborts}, nil
	}
	p := NewParts(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Open(ctx, FileInfo{Path: "a", Size: 100, Part: chunk.Range{Off: 0, Len: 50}}, open)
		done <- err
	}()
	cancel()
	if err := <-done; err == nil {
		t.Fatal("Open returned a writer after its context ended")
	}
	close(release)
	p.Close()
	// openFile aborts on its own goroutine once open returns.
	for i := 0; aborts.Load() == 0; i++ {
		if i == 2000 {
			t.Fatal("the file opened after its only part gave up was never aborted")
		}
		time.Sleep(time.Millisecond)
	}
	// And a new part opens it afresh.
	w, err := p.Open(context.Background(), FileInfo{Path: "a", Size: 100, Part: chunk.Range{Off: 50, Len: 50}}, st.open)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Abort()
}

// A file that could not be opened is forgotten without touching the
// writer its open returned (a typed nil *T beside the error, as
// localfs's CreateFile returns).
func TestPartOfAFileThatCannotBeOpened(t *testing.T) {
	p := NewParts(context.Background())
	open := func(context.Context, FileInfo) (endpoint.FileWriter, error) {
		var w *countingWriter
		return w, errors.New("busy")
	}
	if _, err := p.Open(context.Background(), FileInfo{Path: "a", Size: 100, Part: chunk.Range{Off: 0, Len: 50}}, open); err == nil {
		t.Fatal("a part opened though its file did not")
	}
	p.Close()
}

// countingWriter counts its calls; a nil one panics on any.
type countingWriter struct{ calls int }

func (w *countingWriter) WriteAt(b []byte, _ int64) (int, error) { w.calls++; return len(b), nil }
func (w *countingWriter) Commit() error                          { w.calls++; return nil }
func (w *countingWriter) Abort() error                           { w.calls++; return nil }
