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
// It cuts base with next's chunking (one read: lists of the two versions
// would not share boundaries if their sizes straddle a step of ParamsFor),
// plans, and copies with CopyBase, which checks every copied chunk's
// SHA-256 again as it writes it: a base that changes under Seed costs
// bytes, never correctness. The caller still checks the whole file's hash.
// dst must not be base. buf is scratch space (nil: Seed allocates).
func Seed(dst io.WriterAt, base io.ReaderAt, size int64, next List, buf []byte) ([]Range, error) {
	p, ok := next.Params()
	if !ok || size <= 0 || len(next.Chunks) == 0 {
		return nil, nil
	}
	if len(buf) == 0 {
		buf = make([]byte, 256<<10)
	}
	c := NewWithParams(p, nil)
	if _, err := io.CopyBuffer(c, io.NewSectionReader(base, 0, size), buf); err != nil {
		return nil, fmt.Errorf("unable to read base: %w", err)
	}
	bl, err := c.List()
	if err != nil {
		return nil, err
	}
	ops := Plan(bl, next)
	if LiteralBytes(ops) == next.Total {
		return nil, nil
	}
	rest, err := CopyBase(dst, base, bl, ops, buf)
	if err != nil {
		return nil, err
	}
	return complement(rest, next.Total), nil
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
