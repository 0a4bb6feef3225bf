package data

// span is a half-open byte range [lo, hi).
type span struct{ lo, hi int64 }

// rangeSet is a sorted set of disjoint, non-adjacent half-open ranges. Files
// arrive mostly in order, so the common insert extends the last range.
type rangeSet struct {
	s []span
}

// add inserts [lo, hi) and returns how many bytes were new.
func (r *rangeSet) add(lo, hi int64) int64 {
	if hi <= lo {
		return 0
	}
	n := len(r.s)
	if n == 0 || lo > r.s[n-1].hi {
		r.s = append(r.s, span{lo, hi})
		return hi - lo
	}
	if lo >= r.s[n-1].lo && hi <= r.s[n-1].hi {
		return 0
	}
	// General case: find the first range ending at or after lo.
	i := 0
	for i < n && r.s[i].hi < lo {
		i++
	}
	j := i
	covered := int64(0)
	nlo, nhi := lo, hi
	for j < n && r.s[j].lo <= hi {
		covered += min(r.s[j].hi, hi) - max(r.s[j].lo, lo)
		nlo = min(nlo, r.s[j].lo)
		nhi = max(nhi, r.s[j].hi)
		j++
	}
	if covered < 0 {
		covered = 0
	}
	// In place: ranges i..j-1 become one, or (none touched) the new range
	// goes in at i. A copy of the set per add was an allocation per packet
	// on both ends, as an in-order packet that continues the last range
	// comes here.
	if i == j {
		r.s = append(r.s, span{})
		copy(r.s[i+1:], r.s[i:n])
	} else if j > i+1 {
		copy(r.s[i+1:], r.s[j:])
		clear(r.s[n-(j-i-1) : n])
		r.s = r.s[:n-(j-i-1)]
	}
	r.s[i] = span{nlo, nhi}
	return (hi - lo) - covered
}

// contains reports whether [lo, hi) is entirely in the set.
func (r *rangeSet) contains(lo, hi int64) bool {
	if hi <= lo {
		return true
	}
	for _, s := range r.s {
		if s.lo <= lo && hi <= s.hi {
			return true
		}
		if s.lo > lo {
			return false
		}
	}
	return false
}

// covers reports whether the set holds all of [0, size).
func (r *rangeSet) covers(size int64) bool {
	return size == 0 || (len(r.s) > 0 && r.s[0].lo == 0 && r.s[0].hi >= size)
}

// gapFrom returns the first position at or after off not in the set.
func (r *rangeSet) gapFrom(off int64) int64 {
	for _, s := range r.s {
		if s.lo > off {
			break
		}
		if off < s.hi {
			off = s.hi
		}
	}
	return off
}

// total is the number of bytes in the set.
func (r *rangeSet) total() int64 {
	var t int64
	for _, s := range r.s {
		t += s.hi - s.lo
	}
	return t
}

// within returns the part of the set inside [lo, hi).
func (r *rangeSet) within(lo, hi int64) rangeSet {
	var out rangeSet
	for _, s := range r.s {
		if a, b := max(s.lo, lo), min(s.hi, hi); a < b {
			out.add(a, b)
		}
	}
	return out
}
