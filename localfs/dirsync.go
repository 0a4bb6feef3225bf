package localfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
)

// errFolderClosed is returned to a commit still waiting for its directory
// sync when the FS is closed.
var errFolderClosed = fmt.Errorf("the folder was closed before the directory sync completed: %w", os.ErrClosed)

// dirSyncer coalesces the fsyncs of one directory ("group commit"). A
// commit that has renamed its file into the directory needs an fsync that
// starts after its rename; one that is already running may have started
// before it, so the commit joins the next round instead. The next round
// starts when the running one ends and serves everyone who queued
// meanwhile, so at most one fsync of a directory runs at a time and a
// burst of commits costs two of them, not one each.
//
// A round queued behind a running fsync runs on a goroutine, gone as soon
// as no round is queued, so that its waiters can give up (their context,
// or the FS closing) while the kernel call cannot.
type dirSyncer struct {
	fsync func() error

	mu      sync.Mutex
	running bool
	next    *syncRound // not started yet: requests join it
}

// syncRound is one fsync and the requests it serves.
type syncRound struct {
	done    chan struct{}
	err     error // written before done is closed
	waiters int   // requests it serves; guarded by dirSyncer.mu
}

// wait returns once an fsync that started after the call has completed,
// with its error, or earlier with an error if ctx ends or stop is closed.
// A request that finds the directory idle runs the fsync itself and waits
// for it like for its file's own fsync; rounds queued behind it run on a
// goroutine, and their waiters can give up.
func (s *dirSyncer) wait(ctx context.Context, stop <-chan struct{}) error {
	s.mu.Lock()
	r := s.next
	if r == nil {
		r = &syncRound{done: make(chan struct{})}
		s.next = r
	}
	r.waiters++
	if !s.running {
		// Nobody else is in r: a lone commit (the common sequential
		// case) pays no goroutine hand-off.
		s.running, s.next = true, nil
		s.mu.Unlock()
		if next := s.finish(r, s.fsync()); next != nil {
			go s.run(next)
		}
		return r.err
	}
	s.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
	case <-stop:
	}
	// A sync that completed as we gave up still counts.
	select {
	case <-r.done:
		return r.err
	default:
	}
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("gave up waiting for the directory sync: %w", err)
	}
	return errFolderClosed
}

// run performs r and then every round queued while the previous one ran.
func (s *dirSyncer) run(r *syncRound) {
	for r != nil {
		r = s.finish(r, s.fsync())
	}
}

// finish completes r with the result of its fsync and returns the round
// queued meanwhile, which the caller must run, or nil if none was.
func (s *dirSyncer) finish(r *syncRound, err error) *syncRound {
	if err != nil {
		r.err = err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	close(r.done)
	next := s.next
	s.next = nil
	if next == nil {
		s.running = false
	} else if r.err != nil {
		// Linux reports a writeback error once per open file: a
		// rename made while the failed fsync ran may be lost without
		// the next fsync saying so. Everyone who renamed during it
		// hears of the failure.
		next.err = r.err
	}
	return next
}

// syncDir is the production fsync of a directory.
func syncDir(f *os.File) error {
	if err := f.Sync(); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return errFolderClosed
		}
		return err
	}
	return nil
}
