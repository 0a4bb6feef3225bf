package syncer

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

var mergeSeed = flag.Uint64("merge.seed", 0, "seed of TestMergeKeepsTheSamePlan (0: from the clock)")

// randomTree makes a folder of up to three levels: names a..e at each
// level, each absent, a file, a link or a directory.
func randomTree(rng *rand.Rand) []tree.Entry {
	var out []tree.Entry
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		for _, n := range []string{"a", "b", "c", "d", "e"} {
			p := n
			if dir != "" {
				p = dir + "/" + n
			}
			switch k := rng.IntN(10); {
			case k < 3:
			case k < 7 || depth == 2:
				out = append(out, randomFile(rng, p))
			case k < 8:
				out = append(out, at(p, tS1))
			default:
				out = append(out, at(p, tD1))
				walk(p, depth+1)
			}
		}
	}
	walk("", 0)
	slices.SortFunc(out, func(a, b tree.Entry) int { return tree.Compare(a.Path, b.Path) })
	return out
}

func randomFile(rng *rand.Rand, p string) tree.Entry {
	h := uint64(1 + rng.IntN(6))
	return tree.Entry{Path: p, Kind: tree.File, Size: int64(10 * h), Hash: h, Mtime: 1000, Mode: 0o644}
}

// mutate changes a few entries of base the way a user might: edits,
// metadata, deletions (with everything below), new files, kind changes,
// unreadable entries.
func mutate(rng *rand.Rand, base []tree.Entry, rate int) []tree.Entry {
	var out []tree.Entry
	var gone string
	for _, e := range base {
		if gone != "" && tree.IsBelow(e.Path, gone) {
			continue
		}
		gone = ""
		if rng.IntN(100) >= rate {
			out = append(out, e)
			continue
		}
		switch rng.IntN(7) {
		case 0: // deleted
			gone = e.Path
		case 1: // edited, or replaced by a file
			out = append(out, randomFile(rng, e.Path))
			gone = e.Path
		case 2: // metadata
			e.Mtime, e.Mode = 2000, 0o755
			out = append(out, e)
		case 3: // a new sibling
			out = append(out, e)
			n := randomFile(rng, e.Path+"-new")
			if e.Kind == tree.Dir {
				n.Path = e.Path + "/new"
			}
			out = append(out, n)
		case 4: // unreadable
			out = append(out, problem(e))
		case 5: // becomes a directory with a file in it
			gone = e.Path
			out = append(out, at(e.Path, tD1), randomFile(rng, e.Path+"/in"))
		default: // a link
			gone = e.Path
			out = append(out, at(e.Path, tS2))
		}
	}
	slices.SortFunc(out, func(a, b tree.Entry) int { return tree.Compare(a.Path, b.Path) })
	return slices.CompactFunc(out, func(a, b tree.Entry) bool { return a.Path == b.Path })
}

func noProblems(list []tree.Entry) []tree.Entry {
	out := slices.Clone(list)
	for i := range out {
		out[i].Problem = ""
	}
	return out
}

// streamedPlan is what Pass does with the three listings: merge them,
// reconcile what was kept, and put back settled copy sources when the plan
// wants content.
func streamedPlan(t *testing.T, anc, loc, rem []tree.Entry, mode Mode) (Plan, gathered) {
	t.Helper()
	ctx := context.Background()
	keepAll := func() bool { return mode.LocalFolding.Folds() || mode.RemoteFolding.Folds() }
	g, err := merge(ctx, &listSource{anc}, &listSource{loc}, &listSource{rem}, keepAll)
	if err != nil {
		t.Fatal(err)
	}
	p := Reconcile(g.ancestor, g.local, g.remote, mode)
	if want := wantedContent(&p); want != nil && !g.keptAll && g.nAncestor > 0 {
		added, err := addCopySources(ctx, &g, &listSource{anc}, want)
		if err != nil {
			t.Fatal(err)
		}
		if added {
			p = Reconcile(g.ancestor, g.local, g.remote, mode)
		}
	}
	return p, g
}

// TestMergeKeepsTheSamePlan checks that dropping settled paths changes no
// decision: for random folders and changes on both sides, in every
// direction, conflict policy and folding, the plan Pass makes from the
// merge is the plan Reconcile makes from the whole listings, and the
// counts the guards use are the listings' lengths. Rerun a failure with
// -merge.seed.
func TestMergeKeepsTheSamePlan(t *testing.T) {
	seed := *mergeSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -merge.seed %d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	modes := []Mode{
		{Direction: config.TwoWay},
		{Direction: config.TwoWay, Conflicts: config.Manual},
		{Direction: config.RemoteToLocal},
		{Direction: config.LocalToRemote},
		{Direction: config.TwoWay, LocalFolding: endpoint.Folding{Case: true}},
	}
	dropped := 0
	for i := range 400 {
		base := randomTree(rng)
		anc := noProblems(mutate(rng, base, 5))
		if i%10 == 0 {
			anc = nil // a first pass
		}
		loc, rem := mutate(rng, base, 10), mutate(rng, base, 10)
		mode := modes[i%len(modes)]
		want := Reconcile(anc, loc, rem, mode)
		got, g := streamedPlan(t, anc, loc, rem, mode)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d (seed %d, mode %+v): the merged plan differs\nancestor %v\nlocal %v\nremote %v\ngot  %+v\nwant %+v",
				i, seed, mode, anc, loc, rem, got, want)
		}
		if g.nAncestor != len(anc) || g.nLocal != len(loc) || g.nRemote != len(rem) {
			t.Fatalf("case %d (seed %d): counts %d/%d/%d, listings %d/%d/%d", i, seed,
				g.nAncestor, g.nLocal, g.nRemote, len(anc), len(loc), len(rem))
		}
		dropped += len(loc) - len(g.local)
	}
	if dropped == 0 {
		t.Fatalf("seed %d: no case dropped a settled path; the test does not exercise the merge", seed)
	}
}

// TestMergeDropsSettledPaths: a path both sides hold as agreed is counted
// and not kept; one that changed, is unreadable, or exists on one side
// only is kept with all three of its entries.
func TestMergeDropsSettledPaths(t *testing.T) {
	anc := ents("a", tF1, "b", tF1, "c", tF1, "d", tD1, "d/x", tF1)
	loc := ents("a", tF1, "b", tF2, "c", problem(tF1), "d", tD1, "d/x", tF1, "e", tF3)
	rem := ents("a", tF1, "b", tF1, "c", tF1, "d", tD1, "d/x", tF1)
	g, err := merge(context.Background(), &listSource{anc}, &listSource{loc}, &listSource{rem}, func() bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	paths := func(l []tree.Entry) string { return fmt.Sprint(pathsOf(l)) }
	if got, want := paths(g.local), "[b c e]"; got != want {
		t.Errorf("kept local %s, want %s", got, want)
	}
	if got, want := paths(g.ancestor)+paths(g.remote), "[b c][b c]"; got != want {
		t.Errorf("kept ancestor, remote %s, want %s", got, want)
	}
	if g.nAncestor != 5 || g.nLocal != 6 || g.nRemote != 5 {
		t.Errorf("counts %d/%d/%d, want 5/6/5", g.nAncestor, g.nLocal, g.nRemote)
	}
	g, err = merge(context.Background(), &listSource{anc}, &listSource{loc}, &listSource{rem}, func() bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if len(g.local) != len(loc) || !g.keptAll {
		t.Errorf("a folding side kept %d of %d local entries", len(g.local), len(loc))
	}
}

// TestMergeFindsSettledCopySources: new content that a settled file of the
// receiving side already holds is copied there, not sent, though the merge
// dropped that file.
func TestMergeFindsSettledCopySources(t *testing.T) {
	anc := ents("keep", tF2, "old", tF1)
	loc := ents("keep", tF2, "new", tF2, "old", tF1)
	rem := ents("keep", tF2, "old", tF1)
	p, _ := streamedPlan(t, anc, loc, rem, Mode{Direction: config.TwoWay})
	if len(p.Remote) != 1 || p.Remote[0].Kind != OpCopy || p.Remote[0].From.Path != "keep" {
		t.Fatalf("remote ops %+v, want one copy from keep", p.Remote)
	}
}

func pathsOf(l []tree.Entry) []string {
	var out []string
	for _, e := range l {
		out = append(out, e.Path)
	}
	return out
}

// TestScanFeed: a feed hands entries over in order and in batches, refuses
// a scan that lists out of order, passes a failed scan's error on instead
// of ending as if the side were empty, and lets a scan waiting on a full
// feed leave when the pass is cancelled.
func TestScanFeed(t *testing.T) {
	ctx := context.Background()
	f := newScanFeed(SideLocal)
	done := make(chan error, 1)
	go func() {
		var err error
		for i := range scanBatch + 3 {
			if err = f.add(ctx, tree.Entry{Path: fmt.Sprintf("f%06d", i), Kind: tree.File}); err != nil {
				break
			}
		}
		if err == nil {
			err = f.add(ctx, tree.Entry{Path: "a", Kind: tree.File})
		}
		done <- f.close(ctx, err)
	}()
	n := 0
	for {
		_, ok, err := f.next(ctx)
		if err != nil {
			if n != scanBatch {
				t.Errorf("the error came after %d entries, want the %d of the first full batch", n, scanBatch)
			}
			if want := `the local scan listed "a" after "f000514", out of order`; err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
			break
		}
		if !ok {
			t.Fatal("a scan that failed ended the feed as if complete")
		}
		n++
	}
	if err := <-done; err == nil {
		t.Error("close did not return the scan's error")
	}

	// A scan blocked on a feed nobody reads leaves on cancellation.
	cctx, cancel := context.WithCancel(ctx)
	g := newScanFeed(SideRemote)
	blocked := make(chan error, 1)
	go func() {
		var err error
		for i := 0; err == nil && i < 100*scanBatch; i++ {
			err = g.add(cctx, tree.Entry{Path: fmt.Sprintf("f%06d", i), Kind: tree.File})
		}
		blocked <- err
	}()
	cancel()
	if err := <-blocked; err != context.Canceled {
		t.Errorf("a blocked scan returned %v on cancellation, want context.Canceled", err)
	}
}
