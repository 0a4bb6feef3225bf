package localfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
)

// syncfsMin is the fewest files a round of fileSyncer syncs with one
// syncfs instead of an fsync each. syncfs writes back every dirty file of
// the filesystem, other programs' too, so it only pays when it serves
// many: on ext4 an fsync costs a journal commit (about 0.3 ms here) while
// a syncfs of ten thousand small new files takes about 0.1 s.
const syncfsMin = 16

// fileSyncer makes the content of committed files durable in groups
// ("group commit"), as dirSyncer does for directories. A commit hands it
// its partial file, fully written, and waits for a round
// that started after that: a round serves everyone who queued while the
// previous one ran, with one syncfs of the folder's filesystem when they
// are at least syncfsMin, else with an fsync of each of their files. A lone
// commit, the common case of a file received alone, pays one fsync of its
// own file as it always did; a burst of small files pays a syncfs per
// round instead of an fsync per file.
//
// Caveat: syncfs waits for every dirty byte of the filesystem, so a round
// of many small files behind another program's large unsynced write waits
// for that write too.
type fileSyncer struct {
	// syncfs syncs the folder's whole filesystem and reports any writeback
	// error since its last call; nil, or errors.ErrUnsupported, where there
	// is no such call or it cannot be trusted (rounds then fsync each file).
	syncfs func() error
	// fsyncFile, if set, replaces a file's own fsync; a test seam.
	fsyncFile func(*os.File) error

	mu      sync.Mutex
	running bool
	next    *fileRound // not started yet: requests join it
}

// syncItem is a file or directory to make durable: fsync does it alone,
// and key (the open file) tells one already served in a round.
type syncItem struct {
	key   any
	fsync func() error
}

// item is the syncItem of an open file.
func (s *fileSyncer) item(f *os.File) syncItem {
	if s.fsyncFile != nil {
		return syncItem{key: f, fsync: func() error { return s.fsyncFile(f) }}
	}
	return syncItem{key: f, fsync: f.Sync}
}

// fileRound is one sync and the files it serves.
type fileRound struct {
	done   chan struct{}
	files  []syncItem // guarded by fileSyncer.mu until the round starts
	errs   []error    // per file, written before done is closed
	syncfs bool       // the round was served by one syncfs
	// failed, if set before the round starts, is the error of the syncfs
	// that ran while it was queued: it fails every file of the round.
	failed error
}

// wait returns once f's content and metadata are on disk, with the error
// of the sync that served it, or earlier with an error if ctx ends or stop
// is closed. A request that finds no round running runs one itself, for
// whoever has queued by then; rounds queued behind it run on a goroutine,
// and their waiters can give up.
func (s *fileSyncer) wait(ctx context.Context, stop <-chan struct{}, f syncItem) error {
	s.mu.Lock()
	r := s.next
	if r == nil {
		r = &fileRound{done: make(chan struct{})}
		s.next = r
	}
	i := len(r.files)
	r.files = append(r.files, f)
	if !s.running {
		s.running, s.next = true, nil
		s.mu.Unlock()
		if next := s.finish(r, s.sync(r)); next != nil {
			go s.run(next)
		}
		return r.errs[i]
	}
	s.mu.Unlock()
	select {
	case <-r.done:
		return r.errs[i]
	case <-ctx.Done():
	case <-stop:
	}
	select {
	case <-r.done:
		return r.errs[i]
	default:
	}
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("gave up waiting for the file sync: %w", err)
	}
	return errFolderClosed
}

// run performs r and then every round queued while the previous one ran.
func (s *fileSyncer) run(r *fileRound) {
	for r != nil {
		r = s.finish(r, s.sync(r))
	}
}

// sync makes r's files durable and returns an error per file.
func (s *fileSyncer) sync(r *fileRound) []error {
	errs := make([]error, len(r.files))
	if r.failed != nil {
		for i := range errs {
			errs[i] = r.failed
		}
		return errs
	}
	if len(r.files) >= syncfsMin && s.syncfs != nil {
		err := s.syncfs()
		if !errors.Is(err, errors.ErrUnsupported) {
			r.syncfs = true
			if err != nil {
				err = fmt.Errorf("unable to sync the filesystem: %w", err)
			}
			for i := range errs {
				errs[i] = err
			}
			return errs
		}
	}
	if len(r.files) == 1 {
		errs[0] = r.files[0].fsync()
		return errs
	}
	// Fewer: an fsync each, at once, so that the round takes about one
	// (the filesystem's journal commits them together), and each item once.
	first := make(map[any]int, len(r.files))
	var wg sync.WaitGroup
	for i, f := range r.files {
		if _, ok := first[f.key]; ok {
			continue
		}
		first[f.key] = i
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.fsync()
		}()
	}
	wg.Wait()
	for i, f := range r.files {
		errs[i] = errs[first[f.key]]
	}
	return errs
}

// finish completes r with errs and returns the round queued meanwhile,
// which the caller must run, or nil if none was.
func (s *fileSyncer) finish(r *fileRound, errs []error) *fileRound {
	r.errs = errs
	s.mu.Lock()
	defer s.mu.Unlock()
	close(r.done)
	next := s.next
	s.next = nil
	if next == nil {
		s.running = false
		return nil
	}
	if r.syncfs && errs[0] != nil {
		// syncfs reports a writeback error once per open folder: a file
		// written while the failed round ran may have lost its data
		// without the next syncfs saying so. Everyone queued meanwhile
		// hears of the failure and keeps their partial for a retry.
		next.failed = errs[0]
	}
	return next
}
