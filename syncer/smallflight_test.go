package syncer_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// commitBarrier holds every commit until want of them wait at once (or
// a deadline passes, so that a bound below want fails instead of
// hanging), and records the peak.
type commitBarrier struct {
	endpoint.Endpoint
	want int
	full chan struct{}

	mu             sync.Mutex
	inFlight, peak int
	deadline       *time.Timer
}

func (b *commitBarrier) CreateFile(ctx context.Context, meta, expect tree.Entry) (endpoint.FileWriter, error) {
	w, err := b.Endpoint.CreateFile(ctx, meta, expect)
	if err != nil {
		return nil, err
	}
	return &heldCommit{FileWriter: w, b: b}, nil
}

type heldCommit struct {
	endpoint.FileWriter
	b *commitBarrier
}

func (w *heldCommit) Commit() error {
	b := w.b
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
	<-b.full
	b.mu.Lock()
	b.inFlight--
	b.mu.Unlock()
	return w.FileWriter.Commit()
}

func (b *commitBarrier) open() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.openLocked()
}

func (b *commitBarrier) openLocked() {
	select {
	case <-b.full:
	default:
		close(b.full)
	}
}

// TestThousandSmallFilesCommitAtOnce: a small file's copy is mostly the
// wait for its sync, which the destination shares among the commits
// waiting together (localfs's group commit), so a thousand new small
// files must all be able to wait at once, not 256 at a time (four
// rounds of syncs where one does).
func TestThousandSmallFilesCommitAtOnce(t *testing.T) {
	e := newEnv(t)
	e.job.Direction = config.LocalToRemote
	const files = 1000
	for i := range files {
		e.write("local", fmt.Sprintf("d%d/f%04d", i%4, i), "x")
	}
	var remote *commitBarrier
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
		remote = &commitBarrier{Endpoint: r, want: files, full: make(chan struct{})}
		return l, remote
	}
	rec := e.mustPass()
	if rec.Created != files+4 || rec.Skipped != 0 {
		t.Fatalf("pass: %s", summary(rec))
	}
	remote.mu.Lock()
	peak := remote.peak
	remote.mu.Unlock()
	t.Logf("peak commits waiting at once: %d", peak)
	if peak != files {
		t.Fatalf("at most %d of %d small files' commits waited at once, want all", peak, files)
	}
}
