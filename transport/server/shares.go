package server

import (
	"sync"

	"github.com/ferry-sync/ferry/config"
)

// shares divides the server's total cap, and each user's cap, evenly
// among the data sessions running under it, and divides again whenever one
// starts or ends. Without it every session got the whole cap: two uploads
// under a 100 Mbit/s total ran at 200.
//
// An even split is simple and never exceeds a cap; its cost is that a
// session with little left to send holds a share another could use until
// it ends.
type shares struct {
	total config.Rate

	mu   sync.Mutex
	live map[*share]struct{}
}

// share is one data session's claim.
type share struct {
	acct *account
	set  func(config.Rate)
	cur  config.Rate
}

func newShares(total config.Rate) *shares {
	return &shares{total: total, live: map[*share]struct{}{}}
}

// join adds a session of acct. set is called with the session's cap (0:
// uncapped) at once and again whenever it changes, from whichever
// goroutine starts or ends a session; it must be quick and must not call
// back into shares. leave removes the session and hands its share to the
// others.
func (s *shares) join(acct *account, set func(config.Rate)) (leave func()) {
	sh := &share{acct: acct, set: set, cur: -1}
	s.mu.Lock()
	s.live[sh] = struct{}{}
	s.divideLocked()
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.live, sh)
			s.divideLocked()
			s.mu.Unlock()
		})
	}
}

func (s *shares) divideLocked() {
	perUser := map[*account]int{}
	for sh := range s.live {
		perUser[sh.acct]++
	}
	n := config.Rate(len(s.live))
	for sh := range s.live {
		var c config.Rate
		if s.total > 0 {
			c = s.total / n
		}
		if u := sh.acct.rateCap; u > 0 {
			c = minRate(c, u/config.Rate(perUser[sh.acct]))
		}
		if c != sh.cur {
			sh.cur = c
			sh.set(c)
		}
	}
}
