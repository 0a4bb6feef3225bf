package agent

import (
	"context"
	"sync"
)

// Slots is a counting semaphore of transfer slots shared by all jobs
// (max_concurrent_transfers). Waiters are served in arrival order. It
// implements syncer.Slots.
type Slots struct {
	mu      sync.Mutex
	limit   int
	used    int
	waiters []chan struct{}
}

// NewSlots returns a semaphore of n slots (at least 1).
func NewSlots(n int) *Slots {
	s := &Slots{}
	s.SetLimit(n)
	return s
}

// Acquire takes a slot, waiting until one is free or ctx is done.
func (s *Slots) Acquire(ctx context.Context) error {
	s.mu.Lock()
	if s.used < s.limit && len(s.waiters) == 0 {
		s.used++
		s.mu.Unlock()
		return nil
	}
	w := make(chan struct{})
	s.waiters = append(s.waiters, w)
	s.mu.Unlock()

	select {
	case <-w:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for i, x := range s.waiters {
			if x == w {
				s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
				s.mu.Unlock()
				return ctx.Err()
			}
		}
		s.mu.Unlock()
		// Granted while we were giving up: hand the slot on.
		s.Release()
		return ctx.Err()
	}
}

// Release returns a slot taken by Acquire.
func (s *Slots) Release() {
	s.mu.Lock()
	s.used--
	s.grant()
	s.mu.Unlock()
}

// SetLimit changes the number of slots (config reload). Transfers already
// holding a slot keep it; new ones wait until the count is below n.
func (s *Slots) SetLimit(n int) {
	if n < 1 {
		n = 1
	}
	s.mu.Lock()
	s.limit = n
	s.grant()
	s.mu.Unlock()
}

// grant wakes waiters while slots are free; s.mu is held.
func (s *Slots) grant() {
	for s.used < s.limit && len(s.waiters) > 0 {
		w := s.waiters[0]
		s.waiters = s.waiters[1:]
		s.used++
		close(w)
	}
}
