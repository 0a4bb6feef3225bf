package localfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/tree"
)

// waitFilesQueued returns once n files have joined the round queued behind
// the running one.
func waitFilesQueued(t *testing.T, s *fileSyncer, n int) {
	t.Helper()
	deadline := time.Now().Add(deadlockGuard)
	for {
		s.mu.Lock()
		got := 0
		if s.next != nil {
			got = len(s.next.files)
		}
		s.mu.Unlock()
		if got == n {
			return
		}
		if got > n || time.Now().After(deadline) {
			t.Fatalf("%d files queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func startFileWait(s *fileSyncer, ctx context.Context, stop <-chan struct{}, it syncItem) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- s.wait(ctx, stop, it) }()
	return ch
}

func assertFilesIdle(t *testing.T, s *fileSyncer) {
	t.Helper()
	deadline := time.Now().Add(deadlockGuard)
	for {
		s.mu.Lock()
		running := s.running
		s.mu.Unlock()
		if !running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the sync goroutine is still running with nothing queued")
		}
		time.Sleep(time.Millisecond)
	}
}

// countingItem is a file whose fsync only counts.
type countingItem struct {
	mu    sync.Mutex
	calls int
}

func (c *countingItem) item() syncItem {
	return syncItem{key: c, fsync: func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.calls++
		return nil
	}}
}

func (c *countingItem) numCalls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// Files committed while a sync runs wait for the next one, not the
// running one; when they are many, that next sync is one syncfs for all
// of them instead of an fsync each. A lone file gets an fsync of its own.
func TestFileSyncerServesManyWithOneSyncfs(t *testing.T) {
	ctx := context.Background()
	stop := make(chan struct{})
	fs := newScriptedSync()
	s := &fileSyncer{syncfs: fs.fsync}

	// The first file finds nothing running: its own fsync, which hangs.
	first := newScriptedSync()
	a := startFileWait(s, ctx, stop, syncItem{key: first, fsync: first.fsync})
	recv(t, first.started, "the first file's fsync")
	var queued []<-chan error
	var items []*countingItem
	for n := 1; n <= syncfsMin; n++ {
		c := &countingItem{}
		items = append(items, c)
		queued = append(queued, startFileWait(s, ctx, stop, c.item()))
		waitFilesQueued(t, s, n)
	}
	assertPending(t, queued...)
	first.results <- nil
	if err := recv(t, a, "the first file"); err != nil {
		t.Fatalf("first file: %v", err)
	}
	recv(t, fs.started, "the syncfs of the queued files")
	assertPending(t, queued...)
	fs.results <- nil
	for i, ch := range queued {
		if err := recv(t, ch, "a queued file"); err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
	}
	for i, c := range items {
		if n := c.numCalls(); n != 0 {
			t.Errorf("file %d: fsynced %d times, though the syncfs served it", i, n)
		}
	}
	if n := fs.numCalls(); n != 1 {
		t.Errorf("%d syncfs calls for one round of %d files, want 1", n, syncfsMin)
	}
	assertFilesIdle(t, s)
}

// A round of fewer than syncfsMin files fsyncs each of them once, all at
// once: the fsyncs of one round overlap instead of queueing one behind the
// other.
func TestFileSyncerFsyncsAFewAtOnce(t *testing.T) {
	ctx := context.Background()
	stop := make(chan struct{})
	noSyncfs := func() error { t.Error("syncfs for a round of two files"); return nil }
	s := &fileSyncer{syncfs: noSyncfs}

	first := newScriptedSync()
	a := startFileWait(s, ctx, stop, syncItem{key: first, fsync: first.fsync})
	recv(t, first.started, "the first file's fsync")
	x, y := newScriptedSync(), newScriptedSync()
	bx := startFileWait(s, ctx, stop, syncItem{key: x, fsync: x.fsync})
	waitFilesQueued(t, s, 1)
	by := startFileWait(s, ctx, stop, syncItem{key: y, fsync: y.fsync})
	waitFilesQueued(t, s, 2)
	// The same file twice in a round is fsynced once.
	bx2 := startFileWait(s, ctx, stop, syncItem{key: x, fsync: x.fsync})
	waitFilesQueued(t, s, 3)
	first.results <- nil
	recv(t, a, "the first file")
	// Both fsyncs start before either completes.
	recv(t, x.started, "x's fsync")
	recv(t, y.started, "y's fsync")
	assertPending(t, bx, by, bx2)
	errIO := errors.New("injected EIO")
	x.results <- errIO
	y.results <- nil
	if err := recv(t, bx, "x"); !errors.Is(err, errIO) {
		t.Fatalf("x: %v, want its fsync's error", err)
	}
	if err := recv(t, bx2, "x again"); !errors.Is(err, errIO) {
		t.Fatalf("x again: %v, want its fsync's error", err)
	}
	if err := recv(t, by, "y"); err != nil {
		t.Fatalf("y: %v (x's error is x's alone)", err)
	}
	if n := x.numCalls(); n != 1 {
		t.Fatalf("x fsynced %d times in one round, want 1", n)
	}
	assertFilesIdle(t, s)
}

// A failed syncfs fails every file it served and every file queued while
// it ran: a writeback error is reported once per open folder, so the next
// syncfs would not say that their data was lost.
func TestFileSyncerFailedSyncfsFailsTheRoundQueuedBehind(t *testing.T) {
	ctx := context.Background()
	stop := make(chan struct{})
	fs := newScriptedSync()
	s := &fileSyncer{syncfs: fs.fsync}

	first := newScriptedSync()
	a := startFileWait(s, ctx, stop, syncItem{key: first, fsync: first.fsync})
	recv(t, first.started, "the first file's fsync")
	var second []<-chan error
	for n := 1; n <= syncfsMin; n++ {
		second = append(second, startFileWait(s, ctx, stop, (&countingItem{}).item()))
		waitFilesQueued(t, s, n)
	}
	first.results <- nil
	recv(t, a, "the first file")
	recv(t, fs.started, "the failing syncfs")
	var third []<-chan error
	for n := 1; n <= 2; n++ {
		third = append(third, startFileWait(s, ctx, stop, (&countingItem{}).item()))
		waitFilesQueued(t, s, n)
	}
	errIO := errors.New("injected EIO")
	fs.results <- errIO
	for i, ch := range append(second, third...) {
		if err := recv(t, ch, "a file of or behind the failed syncfs"); !errors.Is(err, errIO) {
			t.Fatalf("file %d: %v, want the syncfs's error", i, err)
		}
	}
	assertFilesIdle(t, s)
}

// A waiter stops waiting when its context ends or the FS closes while the
// sync it waits for is stuck.
func TestFileSyncerWaitersGiveUp(t *testing.T) {
	stop := make(chan struct{})
	s := &fileSyncer{}
	first := newScriptedSync()
	a := startFileWait(s, context.Background(), stop, syncItem{key: first, fsync: first.fsync})
	recv(t, first.started, "the first file's fsync")
	ctx, cancel := context.WithCancel(context.Background())
	byCtx := startFileWait(s, ctx, stop, (&countingItem{}).item())
	waitFilesQueued(t, s, 1)
	byStop := startFileWait(s, context.Background(), stop, (&countingItem{}).item())
	waitFilesQueued(t, s, 2)
	cancel()
	if err := recv(t, byCtx, "the cancelled waiter"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v, want context.Canceled", err)
	}
	close(stop)
	if err := recv(t, byStop, "a waiter of a closed FS"); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("waiter after close: %v, want os.ErrClosed", err)
	}
	assertPending(t, a)
	first.results <- nil
	if err := recv(t, a, "the file running the fsync"); err != nil {
		t.Fatal(err)
	}
	assertFilesIdle(t, s)
}

// Many files committed at once through the FS, their syncs shared, are
// each in place with their content.
func TestCommitsOfManySmallFilesAtOnce(t *testing.T) {
	root := t.TempDir()
	f := newFS(t, root, Options{})
	defer f.Close()
	const files = 200
	var mu sync.Mutex
	syncfsCalls := 0
	f.dirs.files.syncfs = func() error {
		mu.Lock()
		syncfsCalls++
		mu.Unlock()
		return syncFS(f.dirs.root.f)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, files)
	for i := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := fmt.Sprintf("f%03d", i)
			data := []byte(p)
			w, err := f.CreateFile(ctx, tree.Entry{Path: p, Kind: tree.File, Size: int64(len(data)), Mode: 0o644}, tree.Entry{})
			if err != nil {
				errs <- err
				return
			}
			if _, err := w.WriteAt(data, 0); err != nil {
				errs <- err
				return
			}
			errs <- w.Commit()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range files {
		p := fmt.Sprintf("f%03d", i)
		if got, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(got) != p {
			t.Fatalf("%s: %q, %v", p, got, err)
		}
	}
	t.Logf("%d files committed at once, %d syncfs calls", files, syncfsCalls)
}

// A file whose sync fails is not put in place: its partial stays, still
// ferry's, and the next attempt resumes it. Nothing a crash could lose is
// ever under the final name, so nothing a crash could lose is recorded.
func TestCommitLeavesPartialWhenItsSyncFails(t *testing.T) {
	root := t.TempDir()
	f := newFS(t, root, Options{})
	resumable(f) // small files, received as partials here
	defer f.Close()
	errIO := errors.New("injected EIO")
	f.dirs.files.fsyncFile = func(*os.File) error { return errIO }
	f.dirs.files.syncfs = func() error { return errIO }
	ctx := context.Background()
	data := []byte("content")
	meta := tree.Entry{Path: "a", Kind: tree.File, Size: int64(len(data)), Mode: 0o644}
	w, err := f.CreateFile(ctx, meta, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); !errors.Is(err, errIO) {
		t.Fatalf("Commit: %v, want the sync's error", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a is in place though its sync failed: %v", err)
	}
	f.dirs.files.fsyncFile, f.dirs.files.syncfs = nil, func() error { return syncFS(f.dirs.root.f) }
	w, err = f.CreateFile(ctx, meta, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	if rw, ok := w.(*Writer); !ok || rw.ExistingSize() != int64(len(data)) {
		t.Fatalf("the retry does not resume the kept partial")
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(root, "a")); err != nil || string(got) != string(data) {
		t.Fatalf("a: %q, %v", got, err)
	}
}
