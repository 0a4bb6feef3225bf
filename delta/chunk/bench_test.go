package chunk

import (
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

const (
	benchSize = 32 << 20 // one 32 MiB file: avg 64 KiB chunks
	readSize  = 32 << 10 // the scan's io.CopyBuffer buffer
)

func benchData() []byte { return randomBytes(newRand(42), benchSize) }

// feed writes data to w in readSize pieces, as io.CopyBuffer would.
func feed(w io.Writer, data []byte) {
	for off := 0; off < len(data); off += readSize {
		w.Write(data[off:min(off+readSize, len(data))])
	}
}

func reportMBps(b *testing.B, d time.Duration, n int, name string) {
	b.ReportMetric(float64(n)*float64(b.N)/d.Seconds()/1e6, name)
}

// cpuLoop runs body b.N times and reports, beside the wall-clock MB/s, the
// MB/s per second of CPU time the benchmark's thread got (cpu-MB/s), the
// figure to compare on a loaded machine.
func cpuLoop(b *testing.B, n int, body func()) {
	b.SetBytes(int64(n))
	clk := startCPU()
	defer clk.stop()
	b.ResetTimer()
	t0 := clk.now()
	for range b.N {
		body()
	}
	reportMBps(b, clk.now()-t0, n, "cpu-MB/s")
}

// cutsOnly finds the chunk boundaries of data without hashing them: the
// cost of FastCDC alone.
func cutsOnly(c *Chunker, data []byte) int {
	cuts := 0
	for p := data; len(p) > 0; {
		if c.cur < c.p.Min {
			k := min(c.p.Min-c.cur, len(p))
			c.cur += k
			p = p[k:]
			continue
		}
		k, cut := c.scan(p)
		c.cur += k
		p = p[k:]
		if cut {
			c.cur, c.fp = 0, 0
			cuts++
		}
	}
	return cuts
}

// BenchmarkGear is the content-defined cut search alone (gear fingerprint,
// two masks, skipping the first Min bytes of each chunk).
func BenchmarkGear(b *testing.B) {
	data := benchData()
	c, _ := New(benchSize, nil)
	cpuLoop(b, benchSize, func() {
		c.cur, c.fp = 0, 0
		cutsOnly(c, data)
	})
}

// BenchmarkRsyncRolling is the per-byte work of rsync's sender on a changed
// file: roll the Adler-like weak checksum one byte and look its 16-bit tag
// up in the table of the receiver's block sums, checking the full 32-bit sum
// on a tag hit. Blocks are 14 KiB (rsync's choice for 200 MiB), 14,600 of
// them in the table. This is the alternative FastCDC is measured against.
func BenchmarkRsyncRolling(b *testing.B) {
	data := benchData()
	const block = 14 << 10
	var tags [1 << 16]bool
	sums := make(map[uint32]struct{})
	r := newRand(9)
	for range 14600 {
		s := r.Uint32()
		sums[s] = struct{}{}
		tags[(s>>16+s)&0xffff] = true
	}
	b.Run("roll+lookup", func(b *testing.B) {
		cpuLoop(b, benchSize, func() { rsyncRoll(data, block, &tags, sums) })
	})
	b.Run("roll-only", func(b *testing.B) { // a lower bound: no table at all
		cpuLoop(b, benchSize, func() { rsyncRoll(data, block, &[1 << 16]bool{}, nil) })
	})
}

func rsyncRoll(data []byte, block int, tags *[1 << 16]bool, sums map[uint32]struct{}) int {
	var s1, s2 uint32
	for _, x := range data[:block] {
		s1 += uint32(x)
		s2 += s1
	}
	hits := 0
	for i := block; i < len(data); i++ {
		sum := s1&0xffff | s2<<16
		if tags[(sum>>16+sum)&0xffff] {
			if _, ok := sums[sum]; ok {
				hits++
			}
		}
		out, in := uint32(data[i-block]), uint32(data[i])
		s1 += in - out
		s2 += s1 - uint32(block)*out
	}
	return hits
}

// BenchmarkSHA256 is the strong hash alone over a whole file.
func BenchmarkSHA256(b *testing.B) {
	data := benchData()
	h := sha256.New()
	cpuLoop(b, benchSize, func() {
		h.Reset()
		feed(h, data)
		h.Sum(nil)
	})
}

// BenchmarkXXHash is today's scan: the whole-file xxhash alone.
func BenchmarkXXHash(b *testing.B) {
	data := benchData()
	h := xxhash.New()
	cpuLoop(b, benchSize, func() {
		h.Reset()
		feed(h, data)
		h.Sum64()
	})
}

// BenchmarkChunker is chunking with SHA-256 per chunk, no tee.
func BenchmarkChunker(b *testing.B) {
	data := benchData()
	c, _ := New(benchSize, nil)
	b.ReportAllocs()
	cpuLoop(b, benchSize, func() {
		c.Reset(benchSize, nil)
		feed(c, data)
		if _, err := c.List(); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkScanOnePass measures in CPU time, in one run so both see the same
// machine, the scan's read as it is (xxhash alone) and with chunk lists
// ("all": xxhash, FastCDC and SHA-256 in the same pass), from memory and
// from a file in the page cache, and reports the share of the file scan's
// CPU time the chunk list costs.
func BenchmarkScanOnePass(b *testing.B) {
	data := benchData()
	path := filepath.Join(b.TempDir(), "f")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, readSize)
	h := xxhash.New()
	c, _ := New(benchSize, nil)
	fromFile := func(w io.Writer) {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if _, err := io.CopyBuffer(w, struct{ io.Reader }{f}, buf); err != nil {
			b.Fatal(err)
		}
	}
	fromFile(io.Discard) // into the page cache
	var tx, tc, fx, fc time.Duration
	clk := startCPU()
	defer clk.stop()
	b.ResetTimer()
	for range b.N {
		t0 := clk.now()
		h.Reset()
		feed(h, data)
		h.Sum64()
		t1 := clk.now()
		h.Reset()
		c.Reset(benchSize, h)
		feed(c, data)
		h.Sum64()
		c.List()
		t2 := clk.now()
		h.Reset()
		fromFile(h)
		t3 := clk.now()
		h.Reset()
		c.Reset(benchSize, h)
		fromFile(c)
		c.List()
		t4 := clk.now()
		tx, tc, fx, fc = tx+t1-t0, tc+t2-t1, fx+t3-t2, fc+t4-t3
	}
	b.StopTimer()
	reportMBps(b, tx, benchSize, "mem-xxhash-cpu-MB/s")
	reportMBps(b, tc, benchSize, "mem-all-cpu-MB/s")
	reportMBps(b, fx, benchSize, "file-xxhash-cpu-MB/s")
	reportMBps(b, fc, benchSize, "file-all-cpu-MB/s")
	b.ReportMetric(100*(1-fx.Seconds()/fc.Seconds()), "file-cdc+sha-share-%")
}

// BenchmarkPlan plans a 1 KiB insert in a 200 MiB file's list (3,200 chunks).
func BenchmarkPlan(b *testing.B) {
	base := syntheticList(200<<20, 0)
	next := syntheticList(200<<20, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		Plan(base, next)
	}
}

// syntheticList is a list of 64 KiB chunks with distinct sums; changed
// chunks get other sums.
func syntheticList(total int64, changed int) List {
	l := List{Total: total}
	for off, i := int64(0), 0; off < total; off, i = off+64<<10, i+1 {
		c := Chunk{Off: off, Len: min(64<<10, total-off)}
		c.Sum[0], c.Sum[1], c.Sum[2] = byte(i), byte(i>>8), byte(i>>16)
		if i >= 1600 && i < 1600+changed {
			c.Sum[3] = 1
		}
		l.Chunks = append(l.Chunks, c)
	}
	return l
}

// BenchmarkParseList decodes the list of a 200 MiB file.
func BenchmarkParseList(b *testing.B) {
	enc := syntheticList(200<<20, 0).Append(nil)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, _, err := ParseList(enc); err != nil {
			b.Fatal(err)
		}
	}
}
