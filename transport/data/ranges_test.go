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
