package chunk

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/cespare/xxhash/v2"
)

func TestParamsFor(t *testing.T) {
	const MiB, GiB = 1 << 20, 1 << 30
	for _, c := range []struct {
		size int64
		avg  int
	}{
		{0, 0},
		{MiB - 1, 0},
		{MiB, 64 << 10},
		{200 * MiB, 64 << 10},
		{256 * MiB, 64 << 10},
		{256*MiB + 1, 128 << 10},
		{512 * MiB, 128 << 10},
		{4 * GiB, 1 << 20},
		{64 * GiB, 16 << 20},
		{1 << 40, 16 << 20},
	} {
		p, ok := ParamsFor(c.size)
		if ok != (c.avg != 0) || p.Avg != c.avg {
			t.Errorf("ParamsFor(%d) = %+v, %v; want avg %d", c.size, p, ok, c.avg)
			continue
		}
		if !ok {
			continue
		}
		if err := p.EnsureValid(); err != nil {
			t.Errorf("ParamsFor(%d): %v", c.size, err)
		}
		if p.Min != p.Avg/4 || p.Max != p.Avg*4 {
			t.Errorf("ParamsFor(%d) = %+v: want min avg/4, max avg*4", c.size, p)
		}
		if n := (c.size + int64(p.Avg) - 1) / int64(p.Avg); n > TargetChunks && p.Avg < 16<<20 {
			t.Errorf("ParamsFor(%d) = %+v: %d chunks of average size", c.size, p, n)
		}
	}
	for _, p := range []Params{{}, {Min: 16, Avg: 64, Max: 256}, {Min: 1 << 10, Avg: 3 << 10, Max: 12 << 10}, {Min: 1 << 10, Avg: 4 << 10, Max: 32 << 10}, paramsOf(25)} {
		if p.EnsureValid() == nil {
			t.Errorf("%+v passed EnsureValid", p)
		}
	}
}

func TestGearTableIsSplitMix64OfTheDocumentedSeed(t *testing.T) {
	s := uint64(0x6665727279676561)
	for i := range gear {
		s += 0x9e3779b97f4a7c15
		z := s
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		z ^= z >> 31
		if gear[i] != z {
			t.Fatalf("gear[%d] = %#x, want %#x: run go generate", i, gear[i], z)
		}
	}
}

// TestChunkSizesWithinBounds chunks random, constant and periodic data and
// checks every chunk but the last is within (Min, Max] and the last within
// [1, Max], that chunks tile the data and that each sum is the SHA-256 of
// its bytes.
func TestChunkSizesWithinBounds(t *testing.T) {
	p := paramsOf(12)
	for _, seed := range seeds(8) {
		r := newRand(seed)
		inputs := map[string][]byte{
			"random":   randomBytes(r, 1<<20+int(r.IntN(1<<16))),
			"zeros":    make([]byte, 300<<10+int(r.IntN(1000))),
			"periodic": bytes.Repeat(randomBytes(r, 1+int(r.IntN(3000))), 200),
			"short":    randomBytes(r, 1+int(r.IntN(p.Min))),
		}
		for name, data := range inputs {
			l := chunkWith(t, p, data, 1+int(r.IntN(70000)))
			if l.Total != int64(len(data)) {
				t.Fatalf("seed %d %s: total %d, want %d", seed, name, l.Total, len(data))
			}
			var off int64
			for i, c := range l.Chunks {
				last := i == len(l.Chunks)-1
				if c.Off != off || c.Len > int64(p.Max) || c.Len < 1 || !last && c.Len <= int64(p.Min) {
					t.Fatalf("seed %d %s: chunk %d of %d at %d, %d bytes: outside (%d, %d] or not at %d", seed, name, i, len(l.Chunks), c.Off, c.Len, p.Min, p.Max, off)
				}
				if c.Sum != sha256.Sum256(data[c.Off:c.End()]) {
					t.Fatalf("seed %d %s: chunk %d sum is not the SHA-256 of its bytes", seed, name, i)
				}
				off = c.End()
			}
			if off != int64(len(data)) {
				t.Fatalf("seed %d %s: chunks end at %d of %d", seed, name, off, len(data))
			}
		}
	}
}

// TestChunkSizesOfRealFiles checks the mean chunk size against the average
// ParamsFor picks, and that every list it makes passes EnsureValid.
func TestChunkSizesOfRealFiles(t *testing.T) {
	for _, seed := range seeds(3) {
		r := newRand(seed)
		data := randomBytes(r, 4<<20+int(r.IntN(1<<20)))
		l := chunkFile(t, data)
		if err := l.EnsureValid(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		p, _ := l.Params()
		mean := float64(len(data)) / float64(len(l.Chunks))
		t.Logf("seed %d: %d bytes, %d chunks, mean %.0f bytes (avg %d)", seed, len(data), len(l.Chunks), mean, p.Avg)
		if mean < float64(p.Avg)/2 || mean > float64(p.Avg)*2 {
			t.Fatalf("seed %d: mean chunk %.0f bytes, far from avg %d", seed, mean, p.Avg)
		}
	}
}

// TestWriteSizesDoNotChangeChunks: boundaries depend on content only, not on
// how the reader happened to split it.
func TestWriteSizesDoNotChangeChunks(t *testing.T) {
	p := paramsOf(10)
	for _, seed := range seeds(4) {
		r := newRand(seed)
		data := randomBytes(r, 200<<10)
		want := chunkWith(t, p, data, len(data))
		for _, step := range []int{1, 63, 64, 4096, 1 + int(r.IntN(9000))} {
			if got := chunkWith(t, p, data, step); !equalLists(got, want) {
				t.Fatalf("seed %d: writes of %d bytes gave %d chunks, one write gave %d", seed, step, len(got.Chunks), len(want.Chunks))
			}
		}
	}
}

func equalLists(a, b List) bool {
	if a.Total != b.Total || len(a.Chunks) != len(b.Chunks) {
		return false
	}
	for i := range a.Chunks {
		if a.Chunks[i] != b.Chunks[i] {
			return false
		}
	}
	return true
}

// TestInsertionShiftsFewBoundaries is the reason for content-defined
// chunking: inserting or deleting bytes in the middle of a file changes
// only the chunks around the edit, however far the rest of the file moves.
func TestInsertionShiftsFewBoundaries(t *testing.T) {
	p := paramsOf(12) // 4 KiB average over 1 MiB: about 230 chunks
	for _, c := range []struct {
		name     string
		ins, del int
	}{
		{"insert 1 byte", 1, 0},
		{"insert 1 KiB", 1 << 10, 0},
		{"insert 10 KiB", 10 << 10, 0},
		{"delete 1 byte", 0, 1},
		{"delete 1 KiB", 0, 1 << 10},
		{"delete 10 KiB", 0, 10 << 10},
		{"replace 100 bytes by 3", 3, 100},
	} {
		t.Run(c.name, func(t *testing.T) {
			worst := 0
			for _, seed := range seeds(25) {
				r := newRand(seed)
				base := randomBytes(r, 1<<20)
				at := len(base)/4 + int(r.IntN(len(base)/2))
				next := splice(base, at, c.del, randomBytes(r, c.ins))
				bl, nl := chunkWith(t, p, base, 32<<10), chunkWith(t, p, next, 32<<10)
				n := newChunks(bl, nl)
				// The edited bytes need ins/Min chunks at most; around them
				// the chunks cut differently until a boundary falls where it
				// fell before, which takes one or two chunks in most runs
				// (1.5 on average for a 1 KiB insert over 200 seeds).
				limit := c.ins/p.Min + 5
				if n > limit {
					t.Errorf("seed %d: edit at %d gave %d new chunks of %d, want at most %d", seed, at, n, len(nl.Chunks), limit)
				}
				worst = max(worst, n)
				if lit := LiteralBytes(Plan(bl, nl)); lit > int64(c.ins+3*p.Max) {
					t.Errorf("seed %d: plan sends %d bytes for an edit of %d", seed, lit, c.ins)
				}
			}
			t.Logf("at most %d new chunks (of ~%d)", worst, (1<<20)/p.Avg)
		})
	}
}

// TestAppendTruncateOverwrite measures what a plan sends for the edits of
// issue 12's benchmark on a file chunked as a scan would.
func TestAppendTruncateOverwrite(t *testing.T) {
	if testing.Short() {
		t.Skip("chunks 8 MiB files")
	}
	r := newRand(7)
	base := randomBytes(r, 8<<20)
	bl := chunkFile(t, base)
	p, _ := bl.Params()
	mid := len(base) / 2
	for _, c := range []struct {
		name  string
		next  []byte
		limit int64
	}{
		{"append 1 byte", append(bytes.Clone(base), 'x'), int64(p.Max) + 1},
		{"append 1 MiB", append(bytes.Clone(base), randomBytes(r, 1<<20)...), int64(p.Max) + 1<<20},
		{"truncate 1 byte", base[:len(base)-1], int64(p.Max)},
		{"truncate 1 MiB", base[:len(base)-1<<20], int64(p.Max)},
		{"overwrite 1 MiB", splice(base, mid, 1<<20, randomBytes(r, 1<<20)), 1<<20 + 2*int64(p.Max)},
		{"insert 1 KiB", splice(base, mid, 0, randomBytes(r, 1<<10)), 1<<10 + 2*int64(p.Max)},
		{"delete 1 KiB", splice(base, mid, 1<<10, nil), 2 * int64(p.Max)},
		{"unchanged", base, 0},
	} {
		nl := chunkFile(t, c.next)
		ops := Plan(bl, nl)
		lit := LiteralBytes(ops)
		t.Logf("%s: %d ops, %d of %d bytes literal", c.name, len(ops), lit, len(c.next))
		if lit > c.limit {
			t.Errorf("%s: %d literal bytes, want at most %d", c.name, lit, c.limit)
		}
		dst := &memFile{}
		if _, err := Build(dst, bytes.NewReader(base), bl, ops, nl.Total, bytes.NewReader(c.next), nil); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !bytes.Equal(dst.b, c.next) {
			t.Fatalf("%s: built file differs", c.name)
		}
	}
}

// TestChunkerTeesEveryByte: the whole-file hash fed through the chunker is
// the hash of the file, so one read gives both.
func TestChunkerTeesEveryByte(t *testing.T) {
	data := randomBytes(newRand(1), 3<<20+17)
	h := xxhash.New()
	c, ok := New(int64(len(data)), h)
	if !ok {
		t.Fatal("no chunker for 3 MiB")
	}
	for off := 0; off < len(data); off += 32 << 10 {
		c.Write(data[off:min(off+32<<10, len(data))])
	}
	if _, err := c.List(); err != nil {
		t.Fatal(err)
	}
	if h.Sum64() != xxhash.Sum64(data) {
		t.Fatal("tee saw different bytes")
	}
}

func TestChunkerReportsSizeChange(t *testing.T) {
	c, _ := New(2<<20, nil)
	c.Write(make([]byte, 2<<20-1))
	if _, err := c.List(); !errors.Is(err, ErrSizeChanged) {
		t.Fatalf("List after a short read: %v, want ErrSizeChanged", err)
	}
	if c.Reset(1<<20-1, nil) {
		t.Fatal("Reset for a file under MinFileSize returned true")
	}
	if _, err := c.Write([]byte{1}); err == nil {
		t.Fatal("Write after a refused Reset succeeded")
	}
	if !c.Reset(1<<20, nil) {
		t.Fatal("Reset for a 1 MiB file returned false")
	}
	c.Write(make([]byte, 1<<20+1))
	if _, err := c.List(); !errors.Is(err, ErrSizeChanged) {
		t.Fatalf("List after a long read: %v, want ErrSizeChanged", err)
	}
}

// TestChunkerAllocatesPerFileNotPerChunk: a reused chunker allocates its
// list once per file, whatever the number of chunks.
func TestChunkerAllocatesPerFileNotPerChunk(t *testing.T) {
	data := randomBytes(newRand(3), 16<<20)
	c, _ := New(int64(len(data)), nil)
	var chunks int
	allocs := testing.AllocsPerRun(3, func() {
		c.Reset(int64(len(data)), nil)
		for off := 0; off < len(data); off += 32 << 10 {
			c.Write(data[off : off+32<<10])
		}
		l, err := c.List()
		if err != nil {
			t.Fatal(err)
		}
		chunks = len(l.Chunks)
	})
	if allocs > 2 {
		t.Fatalf("%.0f allocations for a file of %d chunks", allocs, chunks)
	}
}

// referenceCuts is FastCDC's cut-point function as the paper writes it, for
// a whole buffer at once: the streaming Chunker must cut exactly here.
func referenceCuts(p Params, data []byte) []int64 {
	maskS, maskL := masks(p.avgBits())
	var ends []int64
	for start := 0; start < len(data); {
		src := data[start:]
		n := len(src)
		cut := n
		if n > p.Min {
			n = min(n, p.Max)
			normal := min(p.Avg, n)
			cut = n
			var fp uint64
			i := p.Min
			for ; i < normal; i++ {
				fp = fp<<1 + gear[src[i]]
				if fp&maskS == 0 {
					cut = i + 1
					break
				}
			}
			if cut == n {
				for ; i < n; i++ {
					fp = fp<<1 + gear[src[i]]
					if fp&maskL == 0 {
						cut = i + 1
						break
					}
				}
			}
		}
		start += cut
		ends = append(ends, int64(start))
	}
	return ends
}

func TestChunkerMatchesReference(t *testing.T) {
	for _, seed := range seeds(10) {
		r := newRand(seed)
		p := paramsOf(8 + int(r.IntN(6)))
		data := randomBytes(r, 1+int(r.IntN(600<<10)))
		if seed%3 == 0 { // long runs of one byte reach Max
			data = append(data, make([]byte, r.IntN(5*p.Max))...)
		}
		want := referenceCuts(p, data)
		got := chunkWith(t, p, data, 1+int(r.IntN(3*p.Max)))
		if len(got.Chunks) != len(want) {
			t.Fatalf("seed %d: %d chunks, reference cuts %d", seed, len(got.Chunks), len(want))
		}
		for i, c := range got.Chunks {
			if c.End() != want[i] {
				t.Fatalf("seed %d: chunk %d ends at %d, reference at %d", seed, i, c.End(), want[i])
			}
		}
	}
}
