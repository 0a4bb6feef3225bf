package localfs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/tree"
)

// deadlockGuard bounds every wait in these tests: reaching it is a hang,
// not a slow machine.
const deadlockGuard = 20 * time.Second

// TestCommitReturnsOnlyAfterDirSyncStartedAfterItsRename runs concurrent
// commits into a few directories with a recording, randomly delayed
// directory fsync, and checks in the recorded order of events that each
// Commit returned only after an fsync of its own directory that started
// after its rename had completed.
func TestCommitReturnsOnlyAfterDirSyncStartedAfterItsRename(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (repeat with -ferry.seed)", seed)

	root := t.TempDir()
	f := newFS(t, root, Options{})
	defer f.Close()
	const dirs, files, workers = 4, 300, 32
	dirInfo := make([]os.FileInfo, dirs)
	for d := range dirs {
		p := filepath.Join(root, fmt.Sprint("d", d))
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		dirInfo[d] = fi
	}

	type event struct {
		kind string // rename, start, end, return
		dir  int
		file int // rename and return
		sync int // start and end
	}
	var mu sync.Mutex
	var events []event
	var syncs int
	rng := rand.New(rand.NewPCG(seed, 3))
	// jitter shakes the interleaving by yielding the processor a random
	// number of times: what the test checks holds for any order of
	// events, and the clock plays no part.
	jitter := func(most int) {
		mu.Lock()
		n := rng.IntN(most)
		mu.Unlock()
		for range n {
			runtime.Gosched()
		}
	}
	logEvent := func(e event) int {
		mu.Lock()
		defer mu.Unlock()
		if e.kind == "start" {
			syncs++
			e.sync = syncs
		}
		events = append(events, e)
		return e.sync
	}
	dirOf := func(df *os.File) int {
		fi, err := df.Stat()
		if err != nil {
			t.Errorf("stat of synced directory: %v", err)
			return -1
		}
		for d, di := range dirInfo {
			if os.SameFile(fi, di) {
				return d
			}
		}
		return -1 // the folder itself: no commits there
	}
	f.dirs.fsync = func(df *os.File) error {
		d := dirOf(df)
		n := logEvent(event{kind: "start", dir: d})
		jitter(40)
		logEvent(event{kind: "end", dir: d, sync: n})
		return nil
	}
	f.afterRename = func(p string) {
		var d, i int
		if _, err := fmt.Sscanf(p, "d%d/f%d", &d, &i); err != nil {
			t.Errorf("unexpected path %q", p)
		}
		logEvent(event{kind: "rename", dir: d, file: i})
		jitter(10)
	}

	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for i := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			jitter(20)
			d := i % dirs
			if err := writeFile(t, f, fmt.Sprintf("d%d/f%d", d, i), []byte{byte(i)}); err != nil {
				t.Errorf("file %d: %v", i, err)
				return
			}
			logEvent(event{kind: "return", dir: d, file: i})
		}()
	}
	wg.Wait()

	renamedAt := map[int]int{}
	startedAt := map[int]int{} // sync -> index of its start
	running := map[int]int{}   // dir -> fsyncs of it started and not ended
	checked, during := 0, 0
	for at, e := range events {
		switch e.kind {
		case "rename":
			renamedAt[e.file] = at
			if running[e.dir] > 0 {
				during++
			}
		case "start":
			startedAt[e.sync] = at
			running[e.dir]++
		case "end":
			running[e.dir]--
		case "return":
			r, ok := renamedAt[e.file]
			if !ok {
				t.Fatalf("file %d: Commit returned without a recorded rename", e.file)
			}
			// An fsync of the file's directory that started after its
			// rename and ended before Commit returned.
			covered := false
			for _, x := range events[r+1 : at] {
				if x.kind == "end" && x.dir == e.dir && startedAt[x.sync] > r {
					covered = true
					break
				}
			}
			if !covered {
				t.Fatalf("file %d: Commit returned (event %d) without a completed fsync of d%d started after its rename (event %d)", e.file, at, e.dir, r)
			}
			checked++
		}
	}
	if checked != files {
		t.Fatalf("checked %d commits, want %d", checked, files)
	}
	t.Logf("%d commits, %d directory fsyncs, %d renames while an fsync of their directory ran", files, syncs, during)
}

// scriptedSync is an fsync that reports when it starts and completes only
// when the test hands it a result.
type scriptedSync struct {
	started chan struct{}
	results chan error
	mu      sync.Mutex
	calls   int
}

func newScriptedSync() *scriptedSync {
	return &scriptedSync{started: make(chan struct{}, 16), results: make(chan error)}
}

func (s *scriptedSync) fsync() error {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	s.started <- struct{}{}
	return <-s.results
}

func (s *scriptedSync) numCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(deadlockGuard):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// waitQueued returns once n requests have joined the round queued behind
// the running one.
func waitQueued(t *testing.T, ds *dirSyncer, n int) {
	t.Helper()
	deadline := time.Now().Add(deadlockGuard)
	for {
		ds.mu.Lock()
		got := 0
		if ds.next != nil {
			got = ds.next.waiters
		}
		ds.mu.Unlock()
		if got == n {
			return
		}
		if got > n || time.Now().After(deadline) {
			t.Fatalf("%d requests queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func startWait(ds *dirSyncer, ctx context.Context, stop <-chan struct{}) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- ds.wait(ctx, stop) }()
	return ch
}

func assertPending(t *testing.T, chs ...<-chan error) {
	t.Helper()
	for i, ch := range chs {
		select {
		case err := <-ch:
			t.Fatalf("waiter %d returned (%v) before a sync that started after its request completed", i, err)
		default:
		}
	}
}

func assertIdle(t *testing.T, ds *dirSyncer) {
	t.Helper()
	deadline := time.Now().Add(deadlockGuard)
	for {
		ds.mu.Lock()
		running := ds.running
		ds.mu.Unlock()
		if !running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the sync goroutine is still running with nothing queued")
		}
		time.Sleep(time.Millisecond)
	}
}

// Requests made while an fsync runs join the next one, not the running
// one, and that next fsync serves them all; its error reaches each of
// them, and the round queued behind a failed fsync hears of the failure
// too (Linux reports a writeback error once per open file).
func TestDirSyncerSharesNextSyncAndItsError(t *testing.T) {
	ctx := context.Background()
	stop := make(chan struct{})
	sc := newScriptedSync()
	ds := &dirSyncer{fsync: sc.fsync}

	a := startWait(ds, ctx, stop)
	recv(t, sc.started, "the first fsync")
	var queued []<-chan error
	for n := 1; n <= 3; n++ {
		queued = append(queued, startWait(ds, ctx, stop))
		waitQueued(t, ds, n)
	}
	assertPending(t, queued...)
	sc.results <- nil // the first fsync completes: only a was asked before it started
	if err := recv(t, a, "the first waiter"); err != nil {
		t.Fatalf("first waiter: %v", err)
	}
	recv(t, sc.started, "the second fsync")
	assertPending(t, queued...)

	// While the second (failing) fsync runs, two more queue.
	var third []<-chan error
	for n := 1; n <= 2; n++ {
		third = append(third, startWait(ds, ctx, stop))
		waitQueued(t, ds, n)
	}
	errIO := errors.New("injected EIO")
	sc.results <- errIO
	for i, ch := range queued {
		if err := recv(t, ch, "a queued waiter"); !errors.Is(err, errIO) {
			t.Fatalf("waiter %d of the failed fsync: %v, want the fsync's error", i, err)
		}
	}
	recv(t, sc.started, "the third fsync")
	assertPending(t, third...)
	sc.results <- nil // succeeds, but its waiters renamed while the failing one ran
	for i, ch := range third {
		if err := recv(t, ch, "a waiter behind the failed fsync"); !errors.Is(err, errIO) {
			t.Fatalf("waiter %d queued behind the failed fsync: %v, want its error", i, err)
		}
	}
	assertIdle(t, ds)

	// A request after all that gets an fsync of its own, and its success.
	d := startWait(ds, ctx, stop)
	recv(t, sc.started, "the fourth fsync")
	sc.results <- nil
	if err := recv(t, d, "a later waiter"); err != nil {
		t.Fatalf("waiter after the failure: %v", err)
	}
	if n := sc.numCalls(); n != 4 {
		t.Fatalf("%d fsyncs for 7 requests in 4 rounds, want 4", n)
	}
	assertIdle(t, ds)
}

// A waiter stops waiting when its context ends or the FS closes, while the
// fsync it waited for is stuck; the others keep waiting. The request that
// runs the fsync itself waits for it, as for its file's own fsync.
func TestDirSyncerWaitersGiveUp(t *testing.T) {
	stop := make(chan struct{})
	sc := newScriptedSync()
	ds := &dirSyncer{fsync: sc.fsync}

	first := startWait(ds, context.Background(), stop)
	recv(t, sc.started, "the first fsync")
	ctx, cancel := context.WithCancel(context.Background())
	byCtx := startWait(ds, ctx, stop)
	waitQueued(t, ds, 1)
	byStop := startWait(ds, context.Background(), stop)
	waitQueued(t, ds, 2)

	cancel()
	if err := recv(t, byCtx, "the cancelled waiter"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v, want context.Canceled", err)
	}
	assertPending(t, first, byStop)
	close(stop)
	if err := recv(t, byStop, "a waiter of a closed FS"); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("waiter after close: %v, want os.ErrClosed", err)
	}
	assertPending(t, first)
	// The stuck fsyncs complete eventually; the goroutine then ends.
	sc.results <- nil
	if err := recv(t, first, "the request running the fsync"); err != nil {
		t.Fatalf("the request running the fsync: %v", err)
	}
	recv(t, sc.started, "the queued fsync")
	sc.results <- nil
	assertIdle(t, ds)
}

// Closing the FS unblocks a Commit whose directory fsync hangs; cancelling
// the context given to CreateFile does too.
func TestCommitUnblockedByCloseAndCancel(t *testing.T) {
	root := t.TempDir()
	f := newFS(t, root, Options{})
	closed := false
	defer func() {
		if !closed {
			f.Close()
		}
	}()
	sc := newScriptedSync()
	f.dirs.fsync = func(*os.File) error { return sc.fsync() }
	ds := &f.dirs.root.ds
	defer func() {
		// On failure, let the stuck fsyncs finish so that no goroutine
		// outlives the test.
		deadline := time.Now().Add(deadlockGuard)
		for {
			ds.mu.Lock()
			running := ds.running
			ds.mu.Unlock()
			if !running || time.Now().After(deadline) {
				return
			}
			select {
			case sc.results <- nil:
			case <-time.After(time.Millisecond): // not in the fsync yet
			}
		}
	}()

	commit := func(ctx context.Context, p string) <-chan error {
		ch := make(chan error, 1)
		data := []byte(p)
		w, err := f.CreateFile(ctx, tree.Entry{Path: p, Kind: tree.File, Size: int64(len(data)), Mode: 0o644}, tree.Entry{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.WriteAt(data, 0); err != nil {
			t.Fatal(err)
		}
		go func() { ch <- w.Commit() }()
		return ch
	}

	// c0 finds the folder idle and runs its fsync itself; it hangs.
	c0 := commit(context.Background(), "zero")
	recv(t, sc.started, "the directory fsync")
	ctx, cancel := context.WithCancel(context.Background())
	c1 := commit(ctx, "one")
	waitQueued(t, ds, 1)
	cancel()
	if err := recv(t, c1, "the cancelled Commit"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Commit: %v, want context.Canceled", err)
	}

	c2 := commit(context.Background(), "two")
	waitQueued(t, ds, 2)
	f.Close()
	closed = true
	if err := recv(t, c2, "the Commit of a closed FS"); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Commit after Close: %v, want os.ErrClosed", err)
	}
	assertPending(t, c0)
	sc.results <- nil
	if err := recv(t, c0, "the Commit running the fsync"); err != nil {
		t.Fatalf("the Commit running the fsync: %v", err)
	}
	// The round the two gave up on still runs, and then nothing does.
	recv(t, sc.started, "the queued fsync")
	sc.results <- nil
	assertIdle(t, ds)
	for _, p := range []string{"zero", "one", "two"} {
		if got, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(got) != p {
			t.Fatalf("%s: %q %v; the rename happened before the wait", p, got, err)
		}
	}
}
