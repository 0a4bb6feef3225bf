package syncer

import (
	"fmt"
	"runtime"
	"sort"
	"testing"
	"unsafe"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/tree"
)

// benchTree builds n entries: 100 directories of files, in tree order.
func benchTree(n int) []tree.Entry {
	out := make([]tree.Entry, 0, n)
	perDir := n / 100
	for d := 0; d < 100 && len(out) < n; d++ {
		dir := fmt.Sprintf("dir%03d", d)
		out = append(out, at(dir, tD1))
		for f := 0; f < perDir-1 && len(out) < n; f++ {
			e := at(fmt.Sprintf("%s/file%06d.dat", dir, f), tF1)
			e.Hash = uint64(d*perDir + f + 1)
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return tree.Compare(out[i].Path, out[j].Path) < 0 })
	return out
}

// benchChanged is benchTree(n) as the ancestor and both sides, with 1% of
// the files changed on each side (other files on each).
func benchChanged(n int) (anc, loc, rem []tree.Entry) {
	anc = benchTree(n)
	loc = append([]tree.Entry(nil), anc...)
	rem = append([]tree.Entry(nil), anc...)
	for i := 1; i < n; i += 100 {
		loc[i].Hash += 1 << 40
	}
	for i := 50; i < n; i += 100 {
		rem[i].Hash += 1 << 41
	}
	return anc, loc, rem
}

// BenchmarkReconcile reconciles 100k entries per side, with 1% of files
// changed on each side.
func BenchmarkReconcile(b *testing.B) {
	const n = 100_000
	anc, loc, rem := benchChanged(n)
	mode := Mode{Direction: config.TwoWay}
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var ops int
	for b.Loop() {
		p := Reconcile(anc, loc, rem, mode)
		ops = len(p.Local) + len(p.Remote)
	}
	runtime.ReadMemStats(&after)
	if ops != 2*(n/100) {
		b.Fatalf("planned %d ops, want one per changed file (%d)", ops, 2*(n/100))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/entry")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/n, "B/entry")
}

// BenchmarkMergeAndReconcile is the pass's way over the same 100k paths
// with 1% changed per side: merge the three listings, keep what is not
// settled and reconcile that. kept-B/path is what the merge keeps, per
// path of the tree; it grows with the changes, not with the tree.
func BenchmarkMergeAndReconcile(b *testing.B) {
	const n = 100_000
	anc, loc, rem := benchChanged(n)
	mode := Mode{Direction: config.TwoWay}
	var kept int
	b.ResetTimer()
	for b.Loop() {
		g, err := merge(b.Context(), &listSource{anc}, &listSource{loc}, &listSource{rem}, func() bool { return false })
		if err != nil {
			b.Fatal(err)
		}
		p := Reconcile(g.ancestor, g.local, g.remote, mode)
		if len(p.Local) != n/100 || len(p.Remote) != n/100 {
			b.Fatalf("plan has %d local and %d remote ops, want %d each", len(p.Local), len(p.Remote), n/100)
		}
		kept = len(g.ancestor) + len(g.local) + len(g.remote)
	}
	b.ReportMetric(float64(kept)*float64(unsafe.Sizeof(tree.Entry{}))/n, "kept-B/path")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/path")
}
