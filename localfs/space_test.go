package localfs

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/endpoint"
)

// TestSpaceOwedMatchesReservations: the running total of what reservations
// still owe equals the sum over them, through random reserves, writes,
// releases and fresh readings, so availability is what summing each time
// would give.
func TestSpaceOwedMatchesReservations(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (repeat with -ferry.seed)", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	clock := time.Unix(0, 0)
	tr := spaceTracker{now: func() time.Time { return clock }}
	disk := int64(1 << 20)
	read := func() (endpoint.Space, error) { return endpoint.Space{Free: uint64(disk)}, nil }
	var live []*reservation
	for i := range 5000 {
		switch op := rng.IntN(10); {
		case op < 4:
			if _, r, err := tr.reserve(rng.Int64N(4096)+1, read); err != nil {
				t.Fatal(err)
			} else if r != nil {
				live = append(live, r)
			}
		case op < 7 && len(live) > 0:
			r := live[rng.IntN(len(live))]
			r.wrote(rng.Int64N(r.need + 1))
		case op < 9 && len(live) > 0:
			j := rng.IntN(len(live))
			tr.release(live[j])
			live = append(live[:j], live[j+1:]...)
		default:
			clock = clock.Add(spaceRefresh)
			disk = rng.Int64N(1<<20) + 1<<16
		}
		tr.mu.Lock()
		want := tr.free
		for r := range tr.active {
			want -= r.need - r.seen
		}
		got := tr.availLocked()
		tr.mu.Unlock()
		if got != max(want, 0) {
			t.Fatalf("step %d: available %d, summing the reservations gives %d", i, got, max(want, 0))
		}
	}
}
