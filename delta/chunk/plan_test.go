package chunk

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
)

// randomEdit applies one random edit of the kinds a user makes: insert,
// delete, overwrite, append, truncate, or duplicate a range elsewhere.
func randomEdit(r *rand.Rand, data []byte) ([]byte, string) {
	n := 1 + int(r.IntN(1<<int(r.IntN(17))))
	at := int(r.IntN(len(data) + 1))
	switch r.IntN(6) {
	case 0:
		return splice(data, at, 0, randomBytes(r, n)), fmt.Sprintf("insert %d at %d", n, at)
	case 1:
		n = min(n, len(data)-at)
		return splice(data, at, n, nil), fmt.Sprintf("delete %d at %d", n, at)
	case 2:
		n = min(n, len(data)-at)
		return splice(data, at, n, randomBytes(r, n)), fmt.Sprintf("overwrite %d at %d", n, at)
	case 3:
		return append(bytes.Clone(data), randomBytes(r, n)...), fmt.Sprintf("append %d", n)
	case 4:
		n = min(n, len(data)/2)
		return bytes.Clone(data[:len(data)-n]), fmt.Sprintf("truncate %d", n)
	default:
		from := int(r.IntN(len(data) + 1))
		n = min(n, len(data)-from)
		return splice(data, at, 0, bytes.Clone(data[from:from+n])), fmt.Sprintf("copy %d from %d to %d", n, from, at)
	}
}

// TestPlanBuildRoundTrip: building from a base and a plan gives the new file
// byte for byte, over random edits, and the figures add up.
func TestPlanBuildRoundTrip(t *testing.T) {
	for _, seed := range seeds(40) {
		r := newRand(seed)
		p := paramsOf(10 + int(r.IntN(3)))
		size := 64<<10 + int(r.IntN(1<<20))
		if seed%10 == 0 { // now and then the chunking of a real file
			size = MinFileSize + int(r.IntN(2<<20))
			p, _ = ParamsFor(int64(size))
		}
		base := randomBytes(r, size)
		next := base
		var edits []string
		for range 1 + r.IntN(6) {
			var e string
			next, e = randomEdit(r, next)
			edits = append(edits, e)
		}
		bl, nl := chunkWith(t, p, base, 32<<10), chunkWith(t, p, next, 32<<10)
		ops := Plan(bl, nl)
		if err := CheckPlan(ops, bl, nl.Total); err != nil {
			t.Fatalf("seed %d (%v): %v", seed, edits, err)
		}
		dst := &memFile{}
		st, err := Build(dst, bytes.NewReader(base), bl, ops, nl.Total, bytes.NewReader(next), make([]byte, 1+r.IntN(70000)))
		if err != nil {
			t.Fatalf("seed %d (%v): %v", seed, edits, err)
		}
		if !bytes.Equal(dst.b, next) {
			t.Fatalf("seed %d (%v): built file differs from the new file", seed, edits)
		}
		if st.Copied+st.Literal != nl.Total || st.Refetch != 0 || st.Literal != LiteralBytes(ops) {
			t.Fatalf("seed %d (%v): stats %+v for %d bytes", seed, edits, st, nl.Total)
		}
		for i := 1; i < len(ops); i++ {
			if ops[i].Kind == ops[i-1].Kind && (ops[i].Kind == Literal || ops[i-1].BaseOff+ops[i-1].Len == ops[i].BaseOff) {
				t.Fatalf("seed %d: ops %d and %d should have been merged: %+v %+v", seed, i-1, i, ops[i-1], ops[i])
			}
		}
		t.Logf("seed %d: %v: %d ops, %d of %d bytes literal", seed, edits, len(ops), st.Literal, nl.Total)
	}
}

// handList makes a list whose chunks have the given sums (a byte each) and
// lengths of 100 bytes.
func handList(sums ...byte) List {
	var l List
	for _, s := range sums {
		l.Chunks = append(l.Chunks, Chunk{Off: l.Total, Len: 100, Sum: [SumSize]byte{s}})
		l.Total += 100
	}
	return l
}

func TestPlanMergesRuns(t *testing.T) {
	for _, c := range []struct {
		name       string
		base, next List
		want       []Op
	}{
		{"same file: one copy", handList(1, 2, 3, 4), handList(1, 2, 3, 4),
			[]Op{{Kind: Copy, Off: 0, Len: 400, BaseOff: 0}}},
		{"nothing shared: one literal", handList(1, 2), handList(5, 6, 7),
			[]Op{{Kind: Literal, Off: 0, Len: 300}}},
		{"a repeated chunk continues the run", handList(1, 2, 1, 3), handList(2, 1, 3),
			[]Op{{Kind: Copy, Off: 0, Len: 300, BaseOff: 100}}},
		{"reordered chunks", handList(1, 2, 3), handList(3, 1, 2),
			[]Op{{Kind: Copy, Off: 0, Len: 100, BaseOff: 200}, {Kind: Copy, Off: 100, Len: 200, BaseOff: 0}}},
		{"insert in the middle", handList(1, 2, 3, 4), handList(1, 2, 9, 8, 3, 4),
			[]Op{{Kind: Copy, Off: 0, Len: 200}, {Kind: Literal, Off: 200, Len: 200}, {Kind: Copy, Off: 400, Len: 200, BaseOff: 200}}},
		{"empty base", List{}, handList(1),
			[]Op{{Kind: Literal, Off: 0, Len: 100}}},
	} {
		got := Plan(c.base, c.next)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
	// Same sum, other length: not the same chunk.
	base, next := handList(1), handList(1)
	next.Chunks[0].Len, next.Total = 50, 50
	if got := Plan(base, next); len(got) != 1 || got[0].Kind != Literal {
		t.Errorf("a chunk of another length was copied: %+v", got)
	}
}

// TestBuildRefetchesChangedBase: when the base file no longer holds what its
// list says (edited or truncated since), the chunks that differ come from
// the new file instead, and the result is still exact.
func TestBuildRefetchesChangedBase(t *testing.T) {
	for _, seed := range seeds(10) {
		r := newRand(seed)
		p := paramsOf(12)
		base := randomBytes(r, 512<<10)
		next, _ := randomEdit(r, base)
		bl, nl := chunkWith(t, p, base, len(base)), chunkWith(t, p, next, len(next))
		ops := Plan(bl, nl)

		changed := bytes.Clone(base)
		// Corrupt a base chunk the plan copies: it must come from next.
		var victim Chunk
		for _, c := range bl.Chunks[len(bl.Chunks)/3:] {
			if copied(ops, c) {
				victim = c
				break
			}
		}
		if victim.Len == 0 {
			t.Fatalf("seed %d: the plan copies nothing past a third of the base", seed)
		}
		changed[victim.Off+int64(r.IntN(int(victim.Len)))] ^= 0x40
		changed = changed[:len(changed)-int(r.IntN(p.Max))] // truncated too

		rest, err := CopyBase(&memFile{}, bytes.NewReader(changed), bl, ops, nil)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		dst := &memFile{}
		st, err := Build(dst, bytes.NewReader(changed), bl, ops, nl.Total, bytes.NewReader(next), nil)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if !bytes.Equal(dst.b, next) {
			t.Fatalf("seed %d: built file differs after the base changed", seed)
		}
		if st.Refetch != LiteralBytes(rest)-LiteralBytes(ops) || st.Copied+st.Literal+st.Refetch != nl.Total {
			t.Fatalf("seed %d: stats %+v, CopyBase left %d bytes", seed, st, LiteralBytes(rest))
		}
		t.Logf("seed %d: %+v", seed, st)
		if st.Refetch < victim.Len {
			t.Fatalf("seed %d: a changed base chunk was not refetched: %+v", seed, st)
		}
	}
}

// copied reports whether a plan copies base chunk c.
func copied(ops []Op, c Chunk) bool {
	for _, o := range ops {
		if o.Kind == Copy && o.BaseOff <= c.Off && c.End() <= o.BaseOff+o.Len {
			return true
		}
	}
	return false
}

func TestBuildRejectsBadPlans(t *testing.T) {
	base := handList(1, 2, 3)
	for _, c := range []struct {
		name  string
		ops   []Op
		total int64
	}{
		{"gap", []Op{{Kind: Literal, Off: 0, Len: 100}, {Kind: Literal, Off: 150, Len: 50}}, 200},
		{"overlap", []Op{{Kind: Literal, Off: 0, Len: 100}, {Kind: Literal, Off: 50, Len: 150}}, 200},
		{"short", []Op{{Kind: Literal, Off: 0, Len: 100}}, 200},
		{"past the end", []Op{{Kind: Literal, Off: 0, Len: 300}}, 200},
		{"empty op", []Op{{Kind: Literal, Off: 0, Len: 0}, {Kind: Literal, Off: 0, Len: 200}}, 200},
		{"negative length", []Op{{Kind: Literal, Off: 0, Len: -5}}, 200},
		{"copy not at a chunk start", []Op{{Kind: Copy, Off: 0, Len: 100, BaseOff: 50}}, 100},
		{"copy not to a chunk end", []Op{{Kind: Copy, Off: 0, Len: 150, BaseOff: 0}}, 150},
		{"copy past the base", []Op{{Kind: Copy, Off: 0, Len: 400, BaseOff: 0}}, 400},
		{"copy from a negative offset", []Op{{Kind: Copy, Off: 0, Len: 100, BaseOff: -100}}, 100},
		{"unknown kind", []Op{{Kind: 9, Off: 0, Len: 100}}, 100},
	} {
		_, err := Build(&memFile{}, bytes.NewReader(make([]byte, 300)), base, c.ops, c.total, bytes.NewReader(make([]byte, 400)), nil)
		if !errors.Is(err, ErrPlan) {
			t.Errorf("%s: %v, want ErrPlan", c.name, err)
		}
	}
	if _, err := CopyBase(&memFile{}, bytes.NewReader(nil), base, []Op{{Kind: Copy, Off: 0, Len: 150}}, nil); !errors.Is(err, ErrPlan) {
		t.Errorf("CopyBase of half a chunk: %v, want ErrPlan", err)
	}
}

// TestBuildFailsWhenTheNewBytesRunShort: a literal source that ends early is
// an error, not a short file.
func TestBuildFailsWhenTheNewBytesRunShort(t *testing.T) {
	base := handList(1)
	ops := []Op{{Kind: Literal, Off: 0, Len: 200}}
	if _, err := Build(&memFile{}, bytes.NewReader(nil), base, ops, 200, bytes.NewReader(make([]byte, 150)), nil); err == nil {
		t.Fatal("Build with 150 of 200 new bytes succeeded")
	}
}

// FuzzPlan: for any two lists that tile their files, Plan's ops pass
// CheckPlan and copy only chunks whose sum and length match. Each input
// byte is one chunk: its low 3 bits pick the sum, the rest the length.
func FuzzPlan(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4}, []byte{1, 9, 3, 4, 4})
	f.Add([]byte{}, []byte{7})
	f.Add([]byte{0x11, 0x11, 0x21}, []byte{0x11, 0x21, 0x11, 0x11})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		mk := func(spec []byte) List {
			var l List
			for _, x := range spec {
				c := Chunk{Off: l.Total, Len: 1 + int64(x>>3), Sum: [SumSize]byte{x & 7}}
				l.Chunks = append(l.Chunks, c)
				l.Total += c.Len
			}
			return l
		}
		base, next := mk(a), mk(b)
		ops := Plan(base, next)
		if err := CheckPlan(ops, base, next.Total); err != nil {
			t.Fatal(err)
		}
		for _, o := range ops {
			if o.Kind != Copy {
				continue
			}
			for d := int64(0); d < o.Len; {
				bc := base.Chunks[chunkAt(base, o.BaseOff+d)]
				nc := next.Chunks[sort.Search(len(next.Chunks), func(i int) bool { return next.Chunks[i].Off >= o.Off+d })]
				if bc.Sum != nc.Sum || bc.Len != nc.Len {
					t.Fatalf("op %+v copies base chunk %+v for new chunk %+v", o, bc, nc)
				}
				d += bc.Len
			}
		}
	})
}
