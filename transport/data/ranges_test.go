package data

import (
	"math/rand/v2"
	"testing"
)

func TestRangeSetMatchesBitmap(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 2))
	for round := 0; round < 200; round++ {
		const size = 300
		var set rangeSet
		var bits [size]bool
		for step := 0; step < 40; step++ {
			lo := int64(r.IntN(size))
			hi := lo + int64(r.IntN(40))
			if hi > size {
				hi = size
			}
			want := int64(0)
			for i := lo; i < hi; i++ {
				if !bits[i] {
					want++
					bits[i] = true
				}
			}
			if got := set.add(lo, hi); got != want {
				t.Fatalf("round %d: add(%d,%d) = %d new bytes, want %d (set %v)", round, lo, hi, got, want, set.s)
			}
			for i := 1; i < len(set.s); i++ {
				if set.s[i-1].hi >= set.s[i].lo {
					t.Fatalf("ranges not disjoint and sorted: %v", set.s)
				}
			}
			var total int64
			for i := range bits {
				if bits[i] {
					total++
				}
			}
			if set.total() != total {
				t.Fatalf("total %d, want %d", set.total(), total)
			}
			q := int64(r.IntN(size))
			g := q
			for g < size && bits[g] {
				g++
			}
			if got := set.gapFrom(q); got != g && !(g == size && got >= size) {
				t.Fatalf("gapFrom(%d) = %d, want %d (%v)", q, got, g, set.s)
			}
			ql, qh := q, q+int64(r.IntN(10))
			in := true
			for i := ql; i < qh && i < size; i++ {
				in = in && bits[i]
			}
			if qh > size {
				in = false
			}
			if set.contains(ql, qh) != in {
				t.Fatalf("contains(%d,%d) = %v, want %v (%v)", ql, qh, !in, in, set.s)
			}
		}
	}
}

// TestRangeSetAddDoesNotAllocate: adding a packet's range that continues,
// fills or merges the set's ranges allocates nothing once the set has room.
// Each add copied the whole set before, an allocation per packet on both
// the sender (acked) and the receiver (got).
func TestRangeSetAddDoesNotAllocate(t *testing.T) {
	var set rangeSet
	set.s = make([]span, 0, 8)
	off := int64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		set.add(off, off+1400) // continues the last range
		off += 1400
		set.add(off+1400, off+2800) // a gap before it
		set.add(off, off+1400)      // fills the gap: merges two
		off += 2800
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per round, want 0", allocs)
	}
	if len(set.s) != 1 || set.s[0] != (span{0, off}) {
		t.Fatalf("set %v, want [0, %d)", set.s, off)
	}
}
