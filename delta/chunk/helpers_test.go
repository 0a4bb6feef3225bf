package chunk

import (
	"flag"
	"math/rand/v2"
	"testing"
)

var seedFlag = flag.Uint64("chunk.seed", 0, "run the randomised tests with this seed only")

// seeds returns the seeds a randomised test runs over: 1..n, or the one
// given with -chunk.seed to reproduce a failure.
func seeds(n int) []uint64 {
	if *seedFlag != 0 {
		return []uint64{*seedFlag}
	}
	s := make([]uint64, n)
	for i := range s {
		s[i] = uint64(i + 1)
	}
	return s
}

func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x6368756e6b))
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// chunkWith chunks data with p, writing it step bytes at a time.
func chunkWith(t testing.TB, p Params, data []byte, step int) List {
	t.Helper()
	c := NewWithParams(p, nil)
	for off := 0; off < len(data); off += step {
		if _, err := c.Write(data[off:min(off+step, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	l, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// chunkFile chunks data as a scan would: the chunking ParamsFor picks.
func chunkFile(t testing.TB, data []byte) List {
	t.Helper()
	c, ok := New(int64(len(data)), nil)
	if !ok {
		t.Fatalf("no chunk list for %d bytes", len(data))
	}
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	l, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// newChunks counts the chunks of next whose sum base lacks.
func newChunks(base, next List) int {
	have := make(map[[SumSize]byte]bool, len(base.Chunks))
	for _, c := range base.Chunks {
		have[c.Sum] = true
	}
	n := 0
	for _, c := range next.Chunks {
		if !have[c.Sum] {
			n++
		}
	}
	return n
}

// memFile is an in-memory io.WriterAt and io.ReaderAt.
type memFile struct{ b []byte }

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

func splice(data []byte, at, del int, ins []byte) []byte {
	out := make([]byte, 0, len(data)-del+len(ins))
	out = append(out, data[:at]...)
	out = append(out, ins...)
	return append(out, data[at+del:]...)
}
