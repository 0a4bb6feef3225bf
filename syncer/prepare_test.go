package syncer_test

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
)

// batchRemote moves files in batches, like the remote endpoint, and logs
// the order of what the pass asks of it.
type batchRemote struct {
	endpoint.Endpoint
	mu     sync.Mutex
	events []string
}

func (b *batchRemote) log(ev string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, ev)
}

func (b *batchRemote) Prepare(ctx context.Context, items []endpoint.Transfer, download bool) func() {
	b.log(fmt.Sprintf("prepare %d download=%v", len(items), download))
	return func() { b.log("release") }
}

func (b *batchRemote) Mkdir(ctx context.Context, p string, mode fs.FileMode) error {
	b.log("mkdir")
	return b.Endpoint.Mkdir(ctx, p, mode)
}

// hashAsRead gives it, scanned unhashed and just read whole from r, the
// hash r computed, as a Batch does (endpoint.Batch).
func hashAsRead(r endpoint.FileReader, it *endpoint.Transfer) error {
	if it.Source.Hash != 0 {
		return nil
	}
	hr, ok := r.(endpoint.HashingReader)
	if !ok {
		return nil
	}
	h, err := hr.Sum(it.Source)
	if err != nil {
		return err
	}
	it.Source.Hash = h
	return nil
}

func copyAll(ctx context.Context, items []endpoint.Transfer, src, dst endpoint.Endpoint) []error {
	errs := make([]error, len(items))
	for i, it := range items {
		errs[i] = func() error {
			r, err := src.OpenFile(ctx, it.Source.Path)
			if err != nil {
				return err
			}
			defer r.Close()
			buf := make([]byte, it.Source.Size)
			if _, err := r.ReadAt(buf, 0); err != nil && len(buf) > 0 {
				return err
			}
			if err := hashAsRead(r, &items[i]); err != nil {
				return err
			}
			w, err := dst.CreateFile(ctx, items[i].Source, it.Expect)
			if err != nil {
				return err
			}
			if _, err := w.WriteAt(buf, 0); err != nil {
				w.Abort()
				return err
			}
			return w.Commit()
		}()
	}
	return errs
}

func (b *batchRemote) Upload(ctx context.Context, items []endpoint.Transfer, src endpoint.Endpoint, _ endpoint.Progress) []error {
	b.log("upload")
	return copyAll(ctx, items, src, b.Endpoint)
}

func (b *batchRemote) Download(ctx context.Context, items []endpoint.Transfer, dst endpoint.Endpoint, _ endpoint.Progress) []error {
	b.log("download")
	return copyAll(ctx, items, b.Endpoint, dst)
}

// TestTransferPathIsPreparedBeforeDirectoryWaves: the endpoint that moves
// a batch is told about it before the directories are made, so its setup
// overlaps them; it moves the batch after, and is released once, at the
// end.
func TestTransferPathIsPreparedBeforeDirectoryWaves(t *testing.T) {
	for _, c := range []struct {
		dir  config.Direction
		from string
		want []string
	}{
		{config.LocalToRemote, "local", []string{"prepare 3 download=false", "mkdir", "mkdir", "mkdir", "upload", "release"}},
		// Directories are made on the local side here: the remote sees
		// none of them.
		{config.RemoteToLocal, "remote", []string{"prepare 3 download=true", "download", "release"}},
	} {
		t.Run(string(c.dir), func(t *testing.T) {
			e := newEnv(t)
			e.job.Direction = c.dir
			for _, p := range []string{"a/x.txt", "b/y.txt", "c/z.txt"} {
				e.write(c.from, p, p)
			}
			var r *batchRemote
			e.wrap = func(l, rem endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
				r = &batchRemote{Endpoint: rem}
				return l, r
			}
			rec := e.mustPass()
			if rec.Created != 6 {
				t.Fatalf("pass: %s", summary(rec))
			}
			if !slices.Equal(r.events, c.want) {
				t.Fatalf("events %v, want %v", r.events, c.want)
			}
		})
	}
}

// spaceAfterMkdir answers FreeSpace only once a mkdir has started (or
// after a bound), to see whether the two overlap.
type spaceAfterMkdir struct {
	endpoint.Endpoint
	mkdir      chan struct{}
	once       sync.Once
	overlapped bool
	asked      bool
}

func (s *spaceAfterMkdir) Mkdir(ctx context.Context, p string, mode fs.FileMode) error {
	s.once.Do(func() { close(s.mkdir) })
	return s.Endpoint.Mkdir(ctx, p, mode)
}

func (s *spaceAfterMkdir) FreeSpace(ctx context.Context) (endpoint.Space, error) {
	s.asked = true
	select {
	case <-s.mkdir:
		s.overlapped = true
	case <-time.After(5 * time.Second):
	}
	return s.Endpoint.FreeSpace(ctx)
}

// TestFreeSpaceCheckDoesNotDelayTheWork: the free-space warning's round
// trip runs beside the directory waves, not before them, and is over by
// the time the pass returns.
func TestFreeSpaceCheckDoesNotDelayTheWork(t *testing.T) {
	e := newEnv(t)
	e.job.Direction = config.LocalToRemote
	e.write("local", "d/f.txt", "x")
	var r *spaceAfterMkdir
	e.wrap = func(l, rem endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
		r = &spaceAfterMkdir{Endpoint: rem, mkdir: make(chan struct{})}
		return l, r
	}
	rec := e.mustPass()
	if rec.Created != 2 {
		t.Fatalf("pass: %s", summary(rec))
	}
	if !r.asked {
		t.Fatal("free space was never asked for")
	}
	if !r.overlapped {
		t.Fatal("the directory waves waited for the free-space round trip")
	}
}
