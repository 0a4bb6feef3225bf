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

// PathBound is implemented by endpoints whose files are bound to their
// paths (an encrypted remote: a file's content is authenticated with its
// path). The engine neither renames nor copies files on such an endpoint:
// it sends the file under its new name, which the receiver may build from
// the chunks of the old one, and removes the old one after.
type PathBound interface {
	PathBound() bool
}
