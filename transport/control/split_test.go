package control

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/tree"
)

// TestChangedSplitFitsFrames: whatever the paths and states, every notice
// Split makes encodes to a frame body within the limit, and the notices
// together are the original, in order, with Rescan on the first only.
func TestChangedSplitFitsFrames(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	for round := range 50 {
		var c Changed
		c.Rescan = rng.IntN(2) == 0
		withStates := rng.IntN(2) == 0
		for i := range rng.IntN(300) {
			p := strings.Repeat("p", 1+rng.IntN(4000))
			c.Paths = append(c.Paths, p)
			if withStates {
				c.States = append(c.States, tree.Entry{Path: p, Kind: tree.Symlink, Size: int64(i), Mtime: rng.Int64(),
					Target: strings.Repeat("t", rng.IntN(100)), Problem: strings.Repeat("e", rng.IntN(50))})
			}
		}
		limit := 8000 + rng.IntN(200000)
		parts := c.Split(limit)
		var got Changed
		for i, f := range parts {
			if body := len(Append(nil, f)) - frameHeader; body > limit {
				t.Fatalf("round %d: part %d is %d bytes, limit %d", round, i, body, limit)
			}
			if f.Rescan != (c.Rescan && i == 0) {
				t.Fatalf("round %d: part %d has Rescan %v", round, i, f.Rescan)
			}
			got.Paths = append(got.Paths, f.Paths...)
			got.States = append(got.States, f.States...)
		}
		got.Rescan = c.Rescan
		if len(got.Paths) == 0 && len(c.Paths) == 0 {
			got.Paths = c.Paths
		}
		if len(got.States) == 0 && len(c.States) == 0 {
			got.States = c.States
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("round %d: the parts are not the notice", round)
		}
	}
}
