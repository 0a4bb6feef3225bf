package endpoint

import (
	"context"

	"github.com/ferry-sync/ferry/tree"
)

// BatchStater is implemented by endpoints for which each Stat costs a
// round trip (the remote endpoint): StatMany lstats many paths at once,
// an entry per path in order, Kind Absent where nothing is and Problem
// set where the stat failed.
type BatchStater interface {
	StatMany(ctx context.Context, paths []string) ([]tree.Entry, error)
}
