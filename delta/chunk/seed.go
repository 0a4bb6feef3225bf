package chunk

import (
	"fmt"
	"io"
)

// Range is a half-open byte range [Off, Off+Len) of a file.
type Range struct{ Off, Len int64 }

// Seed puts into dst every chunk of the file described by next that base (a
// file of size bytes the receiver already holds) also has, at its place in
// the new file, and returns the ranges of dst that now hold next's bytes,
// merged and in order. The rest must come from the sender.
//
// It reads base once, cutting it with next's chunking (lists of the two
// versions would not share boundaries if their sizes straddle a step of
// ParamsFor), and writes each base chunk whose SHA-256 next names, from
// the very bytes it hashed, to every place next has it. So what it writes
// is verified whatever happens to base meanwhile: a base that changes
// under Seed costs bytes, never correctness. The caller still checks the
// whole file's hash. dst must not be base. buf is scratch space (nil: Seed
// allocates).
func Seed(dst io.WriterAt, base io.ReaderAt, size int64, next List, buf []byte) ([]Range, error) {
	p, ok := next.Params()
	if !ok || size <= 0 || len(next.Chunks) == 0 {
		return nil, nil
	}
	if len(buf) == 0 {
		buf = make([]byte, 256<<10)
	}
	want := make(map[[SumSize]byte][]int, len(next.Chunks))
	for j, nc := range next.Chunks {
		want[nc.Sum] = append(want[nc.Sum], j)
	}
	filled := make([]bool, len(next.Chunks))
	c := NewWithParams(p, nil)
	// held keeps the base bytes from the start of the first chunk not yet
	// handed out; at is where that chunk starts in held.
	var held []byte
	at, seen := 0, 0
	place := func(chunks []Chunk) error {
		for _, bc := range chunks {
			data := held[at : at+int(bc.Len)]
			at += int(bc.Len)
			for _, j := range want[bc.Sum] {
				if nc := next.Chunks[j]; !filled[j] && nc.Len == bc.Len {
					if _, err := dst.WriteAt(data, nc.Off); err != nil {
						return fmt.Errorf("unable to write at %d: %w", nc.Off, err)
					}
					filled[j] = true
				}
			}
		}
		return nil
	}
	for off := int64(0); off < size; {
		n, err := base.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if n > 0 {
			c.Write(buf[:n])
			if at > len(held)/2 {
				held = append(held[:0], held[at:]...)
				at = 0
			}
			held = append(held, buf[:n]...)
			off += int64(n)
			if done := c.Chunks(); len(done) > seen {
				if err := place(done[seen:]); err != nil {
					return nil, err
				}
				seen = len(done)
			}
		}
		if err != nil {
			if err == io.EOF {
				break // the base shrank: what was read still counts
			}
			return nil, fmt.Errorf("unable to read base at %d: %w", off, err)
		}
		if n == 0 {
			break
		}
	}
	bl, err := c.List()
	if err != nil {
		return nil, err
	}
	if err := place(bl.Chunks[seen:]); err != nil {
		return nil, err
	}
	var out []Range
	for j, ok := range filled {
		if !ok {
			continue
		}
		nc := next.Chunks[j]
		if k := len(out); k > 0 && out[k-1].Off+out[k-1].Len == nc.Off {
			out[k-1].Len += nc.Len
			continue
		}
		out = append(out, Range{nc.Off, nc.Len})
	}
	return out, nil
}

// complement returns the ranges of [0, total) not covered by ops, which are
// in order and do not overlap.
func complement(ops []Op, total int64) []Range {
	var out []Range
	at := int64(0)
	for _, o := range ops {
		if o.Off > at {
			out = append(out, Range{at, o.Off - at})
		}
		at = max(at, o.Off+o.Len)
	}
	if at < total {
		out = append(out, Range{at, total - at})
	}
	return out
}

// Bytes is the total length of rs.
func Bytes(rs []Range) int64 {
	var n int64
	for _, r := range rs {
		n += r.Len
	}
	return n
}
