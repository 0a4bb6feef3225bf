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
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// overlapMeta holds every mkdir and remove until another is in flight
// beside it, as round trips to a remote endpoint overlap; from then on it
// lets every call through. A syncer that makes them one at a time meets
// the guard instead (so the test fails rather than hangs), and max stays 1.
type overlapMeta struct {
	endpoint.Endpoint

	mu            sync.Mutex
	inFlight, max int
	calls         int
	met           chan struct{} // closed once two calls were in flight together
	guard         *time.Timer
}

func newOverlapMeta(ep endpoint.Endpoint) *overlapMeta {
	return &overlapMeta{Endpoint: ep, met: make(chan struct{})}
}

func (s *overlapMeta) enter(ctx context.Context) (func(), error) {
	s.mu.Lock()
	s.inFlight++
	s.calls++
	s.max = max(s.max, s.inFlight)
	met := s.met
	if s.inFlight >= 2 {
		s.openLocked()
	} else if s.guard == nil {
		s.guard = time.AfterFunc(10*time.Second, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.openLocked()
		})
	}
	s.mu.Unlock()
	leave := func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}
	select {
	case <-met:
		return leave, nil
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
}

func (s *overlapMeta) openLocked() {
	select {
	case <-s.met:
	default:
		close(s.met)
	}
}

func (s *overlapMeta) Mkdir(ctx context.Context, p string, mode fs.FileMode) error {
	leave, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer leave()
	return s.Endpoint.Mkdir(ctx, p, mode)
}

func (s *overlapMeta) Remove(ctx context.Context, p string, expect tree.Entry) error {
	leave, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer leave()
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
	var remote *overlapMeta
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
		remote = newOverlapMeta(r)
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
	endpoint.Endpoint
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
		b.deadline = time.AfterFunc(10*time.Second, func() { b.open() })
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
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
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
