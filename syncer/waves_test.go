package syncer_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/tree"
)

// slowMeta delays every mkdir and remove, as a round trip to a remote
// endpoint does, and records how many were in flight at once.
type slowMeta struct {
	syncer.Endpoint
	delay time.Duration

	mu            sync.Mutex
	inFlight, max int
	calls         int
}

func (s *slowMeta) enter() func() {
	s.mu.Lock()
	s.inFlight++
	s.calls++
	s.max = max(s.max, s.inFlight)
	s.mu.Unlock()
	time.Sleep(s.delay)
	return func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}
}

func (s *slowMeta) Mkdir(ctx context.Context, p string, mode fs.FileMode) error {
	defer s.enter()()
	return s.Endpoint.Mkdir(ctx, p, mode)
}

func (s *slowMeta) Remove(ctx context.Context, p string, expect tree.Entry) error {
	defer s.enter()()
	return s.Endpoint.Remove(ctx, p, expect)
}

// TestMetadataOpsOverlapRoundTrips: creating or removing many directories on
// a remote must not cost one round trip each, one after another; parents
// are still created before their children and emptied before removal.
func TestMetadataOpsOverlapRoundTrips(t *testing.T) {
	e := newEnv(t)
	const dirs = 24
	for i := range dirs {
		e.write("local", fmt.Sprintf("d%02d/sub/f.txt", i), "x")
	}
	var remote *slowMeta
	e.wrap = func(l, r syncer.Endpoint) (syncer.Endpoint, syncer.Endpoint) {
		remote = &slowMeta{Endpoint: r, delay: 5 * time.Millisecond}
		return l, remote
	}
	rec := e.mustPass()
	if rec.Created != 3*dirs || rec.Skipped != 0 {
		t.Fatalf("pass: %s", summary(rec))
	}
	if remote.calls != 2*dirs {
		t.Fatalf("mkdir calls %d, want %d", remote.calls, 2*dirs)
	}
	if remote.max < 2 {
		t.Errorf("mkdirs ran one at a time (max in flight %d)", remote.max)
	}
	for i := range dirs {
		if got, ok := e.read("remote", fmt.Sprintf("d%02d/sub/f.txt", i)); !ok || got != "x" {
			t.Fatalf("d%02d/sub/f.txt = %q, %v", i, got, ok)
		}
	}

	// Delete every tree locally: files, then sub, then the top directory
	// must go on the remote, children before parents.
	for i := range dirs {
		if err := os.RemoveAll(filepath.Join(e.localDir, fmt.Sprintf("d%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	e.write("local", "keep.txt", "keeps the root from looking emptied")
	rec = e.mustPass()
	if rec.Deleted != 3*dirs || rec.Skipped != 0 {
		t.Fatalf("delete pass: %s", summary(rec))
	}
	if remote.max < 2 {
		t.Errorf("removes ran one at a time (max in flight %d)", remote.max)
	}
	entries, err := os.ReadDir(e.remoteDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "keep.txt" {
		t.Fatalf("remote holds %v, want only keep.txt", entries)
	}
}

// barrierMeta holds every mkdir until want of them are in flight at once
// (or a deadline passes, so a bound below want fails instead of hanging),
// and records the peak.
type barrierMeta struct {
	syncer.Endpoint
	want int
	full chan struct{}

	mu             sync.Mutex
	inFlight, peak int
	deadline       *time.Timer
}

func (b *barrierMeta) Mkdir(ctx context.Context, p string, mode fs.FileMode) error {
	b.mu.Lock()
	b.inFlight++
	b.peak = max(b.peak, b.inFlight)
	if b.deadline == nil {
		b.deadline = time.AfterFunc(3*time.Second, func() { b.open() })
	}
	if b.inFlight == b.want {
		b.openLocked()
	}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.inFlight--
		b.mu.Unlock()
	}()
	select {
	case <-b.full:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.Endpoint.Mkdir(ctx, p, mode)
}

func (b *barrierMeta) open() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.openLocked()
}

func (b *barrierMeta) openLocked() {
	select {
	case <-b.full:
	default:
		close(b.full)
	}
}

// TestWaveOfTwoHundredDirectoriesRunsAtOnce: 200 new sibling directories
// are one wave; against a remote, where each mkdir is a round trip, the
// whole wave must be in flight at once (one round trip), not in slices of
// a small bound.
func TestWaveOfTwoHundredDirectoriesRunsAtOnce(t *testing.T) {
	e := newEnv(t)
	e.job.Direction = config.LocalToRemote
	const dirs = 200
	for i := range dirs {
		e.write("local", fmt.Sprintf("d%03d/f.txt", i), "x")
	}
	var remote *barrierMeta
	e.wrap = func(l, r syncer.Endpoint) (syncer.Endpoint, syncer.Endpoint) {
		remote = &barrierMeta{Endpoint: r, want: dirs, full: make(chan struct{})}
		return l, remote
	}
	rec := e.mustPass()
	if rec.Created != 2*dirs || rec.Skipped != 0 {
		t.Fatalf("pass: %s", summary(rec))
	}
	remote.mu.Lock()
	peak := remote.peak
	remote.mu.Unlock()
	t.Logf("peak mkdirs in flight: %d", peak)
	if peak != dirs {
		t.Fatalf("at most %d of %d mkdirs of one wave were in flight at once, want all", peak, dirs)
	}
}
