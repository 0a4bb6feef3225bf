package chunk

import (
	"crypto/sha256"
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

// SeedWith is Seed for a base whose list is known and trusted: the
// receiver's own scan made it, and the file is still as that scan saw it.
// It copies, without hashing them again, the base chunks next names, and
// returns the ranges of dst it filled. A base that changed after all only
// costs a failed whole-file check at commit (and a resend), which the
// caller must make. base is read at most once per chunk of next. base's
// list must be of next's chunking (same Params), else nothing is copied.
func SeedWith(dst io.WriterAt, base io.ReaderAt, baseList, next List, buf []byte) ([]Range, error) {
	bp, ok1 := baseList.Params()
	np, ok2 := next.Params()
	if !ok1 || !ok2 || bp != np || len(next.Chunks) == 0 {
		return nil, nil
	}
	if len(buf) == 0 {
		buf = make([]byte, 256<<10)
	}
	var out []Range
	for _, o := range Plan(baseList, next) {
		if o.Kind != Copy {
			continue
		}
		for done := int64(0); done < o.Len; {
			b := buf[:min(int64(len(buf)), o.Len-done)]
			if n, err := base.ReadAt(b, o.BaseOff+done); n < len(b) {
				if err == nil || err == io.EOF {
					return out, nil // the base shrank: keep what was copied
				}
				return nil, fmt.Errorf("unable to read base at %d: %w", o.BaseOff+done, err)
			}
			if _, err := dst.WriteAt(b, o.Off+done); err != nil {
				return nil, fmt.Errorf("unable to write at %d: %w", o.Off+done, err)
			}
			done += int64(len(b))
		}
		if k := len(out); k > 0 && out[k-1].Off+out[k-1].Len == o.Off {
			out[k-1].Len += o.Len
		} else {
			out = append(out, Range{o.Off, o.Len})
		}
	}
	return out, nil
}

// Bytes is the total length of rs.
func Bytes(rs []Range) int64 {
	var n int64
	for _, r := range rs {
		n += r.Len
	}
	return n
}

// Digest is a strong digest of a file's content (see ListDigest and
// SmallDigest). The zero Digest names no content.
type Digest [SumSize]byte

// ListDigest is the digest of a file of MinFileSize bytes or more: the
// SHA-256 of its encoded list, which names every chunk by its SHA-256.
func ListDigest(l List) Digest {
	return sha256.Sum256(l.Append(nil))
}

// SmallDigest is the digest of a file under MinFileSize: the SHA-256 of
// its bytes. Compare digests of files of equal size only: then both are
// of one kind.
func SmallDigest(content []byte) Digest {
	return sha256.Sum256(content)
}
