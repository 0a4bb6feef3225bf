package agent

import (
	"context"
	"sync"

	"github.com/ferry-sync/ferry/syncer"
)

// Slots is a counting semaphore of transfer slots shared by all jobs
// (max_concurrent_transfers). Waiters are served in arrival order. It
// implements syncer.Slots; For gives each job its own view, so that the
// job's status can say where it stands in the queue.
type Slots struct {
	mu      sync.Mutex
	limit   int
	used    int
	waiters []waiter
	held    map[string]int // slots held, by owner
}

type waiter struct {
	ch    chan struct{}
	owner string
}

var (
	_ syncer.Slots = (*Slots)(nil)
	_ syncer.Slots = ownedSlots{}
)

// NewSlots returns a semaphore of n slots (at least 1).
func NewSlots(n int) *Slots {
	s := &Slots{held: map[string]int{}}
	s.SetLimit(n)
	return s
}

// For returns the slots as taken by owner (a job's name).
func (s *Slots) For(owner string) syncer.Slots { return ownedSlots{s, owner} }

type ownedSlots struct {
	s     *Slots
	owner string
}

func (o ownedSlots) Acquire(ctx context.Context) error { return o.s.acquire(ctx, o.owner) }
func (o ownedSlots) Release()                          { o.s.release(o.owner) }

// Acquire takes a slot, waiting until one is free or ctx is done.
func (s *Slots) Acquire(ctx context.Context) error { return s.acquire(ctx, "") }

// Release returns a slot taken by Acquire.
func (s *Slots) Release() { s.release("") }

// Ahead reports whether owner waits for a slot while holding none, and
// then how many transfers hold a slot or wait before it.
func (s *Slots) Ahead(owner string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[owner] > 0 {
		return 0, false
	}
	for i, w := range s.waiters {
		if w.owner == owner {
			return s.used + i, true
		}
	}
	return 0, false
}

func (s *Slots) acquire(ctx context.Context, owner string) error {
	s.mu.Lock()
	if s.used < s.limit && len(s.waiters) == 0 {
		s.used++
		s.held[owner]++
		s.mu.Unlock()
		return nil
	}
	w := waiter{make(chan struct{}), owner}
	s.waiters = append(s.waiters, w)
	s.mu.Unlock()

	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for i, x := range s.waiters {
			if x.ch == w.ch {
				s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
				s.mu.Unlock()
				return ctx.Err()
			}
		}
		s.mu.Unlock()
		// Granted while we were giving up: hand the slot on.
		s.release(owner)
		return ctx.Err()
	}
}

func (s *Slots) release(owner string) {
	s.mu.Lock()
	s.used--
	if s.held[owner]--; s.held[owner] <= 0 {
		delete(s.held, owner)
	}
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
		s.held[w.owner]++
		close(w.ch)
	}
}
