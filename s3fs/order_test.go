package s3fs

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/tree"
)

// run feeds keys (sorted in byte order, as S3 lists them) through a
// reorder and returns the paths it emits and the most it ever held.
func runReorder(t *testing.T, keys []string) ([]string, int) {
	t.Helper()
	slices.Sort(keys)
	var got []string
	r := newReorder(func(p string, n *node) error {
		got = append(got, p)
		return nil
	})
	most := 0
	for _, k := range keys {
		if err := r.add(k, &listed{key: k}); err != nil {
			t.Fatal(err)
		}
		most = max(most, len(r.h))
	}
	if err := r.flush(); err != nil {
		t.Fatal(err)
	}
	return got, most
}

// wantOrder is every path the keys name (implied directories too), in
// tree.Compare order.
func wantOrder(keys []string) []string {
	set := map[string]bool{}
	for _, k := range keys {
		p := strings.TrimSuffix(k, "/")
		for ; p != ""; p = tree.Parent(p) {
			set[p] = true
		}
	}
	var out []string
	for p := range set {
		out = append(out, p)
	}
	slices.SortFunc(out, tree.Compare)
	return out
}

func TestReorderRandomListings(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("FERRY_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d (set FERRY_SEED to repeat)", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	alphabet := []byte(" !-./0a~")
	for round := range 300 {
		set := map[string]bool{}
		for range 1 + rng.IntN(40) {
			var b []byte
			for range 1 + rng.IntN(8) {
				b = append(b, alphabet[rng.IntN(len(alphabet))])
			}
			k := string(b)
			// Keys that name valid paths: no empty element, no leading
			// slash; a trailing slash is a directory marker.
			p := strings.TrimSuffix(k, "/")
			if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "//") {
				continue
			}
			set[k] = true
		}
		var keys []string
		for k := range set {
			keys = append(keys, k)
		}
		got, _ := runReorder(t, keys)
		if want := wantOrder(keys); !slices.Equal(got, want) {
			slices.Sort(keys)
			t.Fatalf("round %d: listing %q\n got %q\nwant %q", round, keys, got, want)
		}
	}
}

// TestReorderHoldsNamesNotSubtrees: "a.txt" is listed before the 1,000
// keys below "a/" and must follow them; only it is held, never the
// subtree.
func TestReorderHoldsNamesNotSubtrees(t *testing.T) {
	keys := []string{"a.txt", "a-b", "b"}
	for i := range 1000 {
		keys = append(keys, fmt.Sprintf("a/%04d", i))
	}
	got, most := runReorder(t, keys)
	if want := wantOrder(keys); !slices.Equal(got, want) {
		t.Fatalf("order wrong: got %q...", got[:5])
	}
	if most > 5 {
		t.Fatalf("held up to %d paths at once, want a handful", most)
	}
}
