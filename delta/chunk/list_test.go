package chunk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// sampleLists are valid lists for the codec tests: real chunkings of files
// at and above MinFileSize.
func sampleLists(t testing.TB) []List {
	r := newRand(11)
	var out []List
	for _, n := range []int{MinFileSize, MinFileSize + 1, 3<<20 + 12345} {
		out = append(out, chunkFile(t, randomBytes(r, n)))
	}
	return out
}

func TestListRoundTrip(t *testing.T) {
	for _, l := range sampleLists(t) {
		b := l.Append([]byte("prefix"))
		if len(b)-len("prefix") != l.EncodedLen() {
			t.Fatalf("EncodedLen %d, Append wrote %d", l.EncodedLen(), len(b)-len("prefix"))
		}
		b = append(b, "trailer"...)
		got, n, err := ParseList(b[len("prefix"):])
		if err != nil {
			t.Fatal(err)
		}
		if n != l.EncodedLen() || !equalLists(got, l) {
			t.Fatalf("round trip of %d chunks: took %d of %d bytes, equal %v", len(l.Chunks), n, l.EncodedLen(), equalLists(got, l))
		}
		if err := got.EnsureValid(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseListRejectsEveryTruncatedPrefix(t *testing.T) {
	for _, l := range sampleLists(t) {
		b := l.Append(nil)
		for i := range len(b) {
			if _, _, err := ParseList(b[:i]); !errors.Is(err, ErrShort) {
				t.Fatalf("prefix of %d of %d bytes: %v, want ErrShort", i, len(b), err)
			}
		}
	}
}

// TestParseListRejectsHostileLists: a peer's list is checked against the
// chunking its total implies before anything is allocated or trusted.
func TestParseListRejectsHostileLists(t *testing.T) {
	valid := sampleLists(t)[2]
	p, _ := valid.Params()
	enc := func(total uint64, lens ...uint64) []byte {
		b := []byte{Version}
		b = binary.AppendUvarint(b, total)
		b = binary.AppendUvarint(b, uint64(len(lens)))
		for _, n := range lens {
			b = binary.AppendUvarint(b, n)
			b = append(b, make([]byte, SumSize)...)
		}
		return b
	}
	lensOf := func(l List) []uint64 {
		var out []uint64
		for _, c := range l.Chunks {
			out = append(out, uint64(c.Len))
		}
		return out
	}
	good := lensOf(valid)
	total := uint64(valid.Total)
	edit := func(f func(l []uint64)) []uint64 {
		l := append([]uint64(nil), good...)
		f(l)
		return l
	}
	if _, _, err := ParseList(enc(total, good...)); err != nil {
		t.Fatalf("the unedited list fails: %v", err)
	}
	maxEnc := func() []byte { // total 2^63: over MaxTotal
		b := []byte{Version}
		return binary.AppendUvarint(b, 1<<63)
	}
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"other version", append([]byte{Version + 1}, enc(total, good...)[1:]...), ErrMalformed},
		{"file under 1 MiB", enc(MinFileSize-1, MinFileSize-1), ErrMalformed},
		{"total over MaxTotal", maxEnc(), ErrMalformed},
		{"no chunks", enc(total), ErrMalformed},
		{"huge count", binary.AppendUvarint(enc(total)[:len(enc(total))-1], 1<<62), ErrMalformed},
		{"count beyond the input", binary.AppendUvarint(enc(total)[:len(enc(total))-1], uint64(len(good))), ErrShort},
		{"chunk under Min", enc(total, edit(func(l []uint64) { l[0], l[1] = uint64(p.Min-1), l[1]+l[0]-uint64(p.Min-1) })...), ErrMalformed},
		{"chunk over Max", enc(total, edit(func(l []uint64) { l[0], l[1] = uint64(p.Max+1), l[1]+l[0]-uint64(p.Max+1) })...), ErrMalformed},
		{"empty last chunk", enc(total, append(good[:len(good):len(good)], 0)...), ErrMalformed},
		{"chunks add up to less", enc(total, edit(func(l []uint64) { l[len(l)-1]-- })...), ErrMalformed},
		{"chunks run past the total", enc(total, edit(func(l []uint64) { l[len(l)-1]++ })...), ErrMalformed},
		{"length over 2^63", enc(total, edit(func(l []uint64) { l[0] = 1 << 63 })...), ErrMalformed},
		{"long-form varint", longTotal(enc(total, good...), total), ErrMalformed},
		{"overflowing varint", append([]byte{Version}, bytes.Repeat([]byte{0xff}, 11)...), ErrMalformed},
	} {
		if _, _, err := ParseList(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// TestEnsureValidRejectsBrokenLists covers what only an in-memory list can
// get wrong: offsets.
func TestEnsureValidRejectsBrokenLists(t *testing.T) {
	valid := sampleLists(t)[2]
	for _, c := range []struct {
		name string
		edit func(l *List)
	}{
		{"offset not monotonic", func(l *List) { l.Chunks[2].Off = l.Chunks[1].Off }},
		{"gap", func(l *List) { l.Chunks[2].Off++ }},
		{"first not at 0", func(l *List) { l.Chunks[0].Off = 1 }},
		{"total too big", func(l *List) { l.Total++ }},
		{"total under 1 MiB", func(l *List) { l.Total = 5 }},
		{"no chunks", func(l *List) { l.Chunks = nil }},
	} {
		l := List{Total: valid.Total, Chunks: append([]Chunk(nil), valid.Chunks...)}
		c.edit(&l)
		if err := l.EnsureValid(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", c.name, err)
		}
	}
	if err := valid.EnsureValid(); err != nil {
		t.Fatal(err)
	}
}

// FuzzParseList: the parser never panics or over-reads, and whatever it
// accepts is valid and re-encodes to exactly the bytes it took (one
// encoding per list).
func FuzzParseList(f *testing.F) {
	for _, l := range sampleLists(f) {
		f.Add(l.Append(nil))
	}
	f.Add([]byte{Version, 0x80, 0x80, 0x40, 0x10})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, n, err := ParseList(b)
		if err != nil {
			if !errors.Is(err, ErrShort) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("took %d of %d bytes", n, len(b))
		}
		if err := l.EnsureValid(); err != nil {
			t.Fatalf("parsed list is invalid: %v", err)
		}
		if again := l.Append(nil); !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoding differs from the input")
		}
	})
}

// longTotal rewrites the total of an encoded list in a longer uvarint form
// that decodes to the same number.
func longTotal(b []byte, total uint64) []byte {
	short := binary.AppendUvarint(nil, total)
	long := append([]byte(nil), short...)
	long[len(long)-1] |= 0x80
	long = append(long, 0)
	return append(append([]byte{b[0]}, long...), b[1+len(short):]...)
}
