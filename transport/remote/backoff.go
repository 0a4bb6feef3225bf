package remote

import (
	"math/rand/v2"
	"time"
)

// Clock is the time source of the redial backoff; tests inject one and
// fire its waits by hand.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// backoff spaces the dials of an endpoint whose server cannot be reached:
// the first dial after a drop goes at once, each one after a failed dial
// waits twice as long as the last (from min, capped at max), less up to a
// half of it at random so that many agents cut off at once do not come
// back in step. A successful dial starts over.
type backoff struct {
	min, max time.Duration
	rand     func() float64 // in [0, 1)
	fails    int
	notUntil time.Time // no dial before this
}

// failed records a failed dial at now.
func (b *backoff) failed(now time.Time) {
	b.fails++
	d := b.min
	for i := 1; i < b.fails && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	d -= time.Duration(b.rand() * float64(d) / 2)
	b.notUntil = now.Add(d)
}

// succeeded records a dial that connected.
func (b *backoff) succeeded() { b.fails, b.notUntil = 0, time.Time{} }

// wait is how long the next dial must wait at now.
func (b *backoff) wait(now time.Time) time.Duration { return max(0, b.notUntil.Sub(now)) }

func defaultRand() float64 { return rand.Float64() }
