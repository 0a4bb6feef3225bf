package syncer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/conflict"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// statOnly is an Endpoint that holds the listed paths; only Stat is used.
type statOnly struct {
	endpoint.Endpoint
	holds map[string]bool
	err   error
}

func (s statOnly) Stat(_ context.Context, p string) (tree.Entry, error) {
	if s.err != nil {
		return tree.Entry{}, s.err
	}
	if s.holds[p] {
		return tree.Entry{Path: p, Kind: tree.File}, nil
	}
	return tree.Entry{}, fmt.Errorf("unable to stat %q: %w", p, fs.ErrNotExist)
}

// TestCopyNameSkipsNamesTakenAnywhere: a conflict copy name must be free
// locally, on the remote and among the paths the pass is about to create.
func TestCopyNameSkipsNamesTakenAnywhere(t *testing.T) {
	eps := [2]endpoint.Endpoint{
		statOnly{holds: map[string]bool{"d/log.conflict-mine.txt": true}},
		statOnly{holds: map[string]bool{"d/log.conflict-mine-2.txt": true}},
	}
	planned := map[string]bool{"d/log.conflict-mine-3.txt": true}
	got, err := conflict.FreeName("d/log.txt", takenAnywhere(context.Background(), eps, planned))
	if err != nil {
		t.Fatal(err)
	}
	if got != "d/log.conflict-mine-4.txt" {
		t.Errorf("got %q, want d/log.conflict-mine-4.txt", got)
	}
}

func TestCopyNameProbeErrorNamesTheSide(t *testing.T) {
	boom := errors.New("connection lost")
	eps := [2]endpoint.Endpoint{statOnly{}, statOnly{err: boom}}
	_, err := conflict.FreeName("log.txt", takenAnywhere(context.Background(), eps, nil))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "remote side") {
		t.Errorf("err = %v, want one wrapping %v that names the remote side", err, boom)
	}
}
