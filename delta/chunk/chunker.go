package chunk

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
)

// SumSize is the length of a chunk's identity: a whole SHA-256.
const SumSize = sha256.Size

// Chunk is one content-defined piece of a file.
type Chunk struct {
	Off int64         // offset in the file
	Len int64         // length in bytes, > 0
	Sum [SumSize]byte // SHA-256 of the bytes
}

// End is the offset just past the chunk.
func (c Chunk) End() int64 { return c.Off + c.Len }

// ErrSizeChanged reports that a Chunker saw a different number of bytes than
// the size it was made for: the file changed while it was read.
var ErrSizeChanged = errors.New("file size changed while chunking")

// Chunker cuts the bytes written to it into content-defined chunks (FastCDC
// with normalized chunking) and hashes each with SHA-256, while passing every
// byte on to a tee, typically the caller's whole-file hash, so one read of a
// file gives both. It is an io.Writer: feed it with io.Copy.
//
// A Chunker is not safe for concurrent use. Reset lets one be reused for the
// next file; the chunk state and SHA-256 are reused, the list is not.
type Chunker struct {
	p        Params
	maskS    uint64
	maskL    uint64
	tee      io.Writer
	want     int64 // the size the caller announced, -1 for unknown
	sha      hash.Hash
	fp       uint64 // gear fingerprint of the current chunk past Min
	cur      int    // bytes of the current chunk seen so far
	off      int64  // offset of the current chunk
	chunks   []Chunk
	finished bool
}

var _ io.Writer = (*Chunker)(nil)

// New returns a Chunker for a file of size bytes that tees every byte to tee
// (nil for none), and false when the file is too small for a chunk list
// (ParamsFor); the caller then just hashes the file as before.
func New(size int64, tee io.Writer) (*Chunker, bool) {
	p, ok := ParamsFor(size)
	if !ok {
		return nil, false
	}
	c := NewWithParams(p, tee)
	c.want = size
	c.chunks = make([]Chunk, 0, expectedChunks(size, p))
	return c, true
}

// NewWithParams returns a Chunker with explicit bounds and no announced size.
// It panics if p is not valid, as that is a programming error.
func NewWithParams(p Params, tee io.Writer) *Chunker {
	if err := p.EnsureValid(); err != nil {
		panic(err)
	}
	c := &Chunker{sha: sha256.New()}
	c.reset(p, tee, -1)
	return c
}

// Reset prepares c for a new file of size bytes, as New does, and returns
// false (leaving c unusable until the next Reset) if that file is too small.
func (c *Chunker) Reset(size int64, tee io.Writer) bool {
	p, ok := ParamsFor(size)
	if !ok {
		c.finished = true
		return false
	}
	c.reset(p, tee, size)
	c.chunks = make([]Chunk, 0, expectedChunks(size, p))
	return true
}

// expectedChunks sizes a list for one allocation in the usual case: the mean
// chunk is a little over Avg, so size/Avg+1 chunks rarely overflow (and then
// append grows the list, once or twice per file, never per chunk).
func expectedChunks(size int64, p Params) int64 {
	return size/int64(p.Avg) + 1
}

func (c *Chunker) reset(p Params, tee io.Writer, want int64) {
	c.p, c.tee, c.want = p, tee, want
	c.maskS, c.maskL = masks(p.avgBits())
	c.sha.Reset()
	c.fp, c.cur, c.off = 0, 0, 0
	c.chunks = nil
	c.finished = false
}

// Params returns the chunk bounds in use.
func (c *Chunker) Params() Params { return c.p }

// Write chunks p and passes it on to the tee. It fails only when the tee
// fails or when called after List.
func (c *Chunker) Write(p []byte) (int, error) {
	if c.finished {
		return 0, errors.New("chunker: write after List")
	}
	if c.tee != nil {
		if n, err := c.tee.Write(p); err != nil {
			return n, err
		}
	}
	n := len(p)
	for len(p) > 0 {
		if c.cur < c.p.Min {
			// FastCDC's cut-point skipping: no cut can fall in the first Min
			// bytes, so they are only hashed, not fingerprinted.
			k := min(c.p.Min-c.cur, len(p))
			c.sha.Write(p[:k])
			c.cur += k
			p = p[k:]
			continue
		}
		k, cut := c.scan(p)
		c.sha.Write(p[:k])
		c.cur += k
		p = p[k:]
		if cut {
			c.emit()
		}
	}
	return n, nil
}

// scan runs the gear fingerprint over p from the current position (at least
// Min into the chunk) and returns how many bytes belong to the current chunk
// and whether the chunk ends there.
func (c *Chunker) scan(p []byte) (int, bool) {
	fp := c.fp
	i := 0
	if c.cur < c.p.Avg {
		q := p[:min(len(p), c.p.Avg-c.cur)]
		var n int
		if fp, n = roll(fp, q, c.maskS); n > 0 {
			return n, true
		}
		i = len(q)
	}
	q := p[i:min(len(p), c.p.Max-c.cur)]
	var n int
	if fp, n = roll(fp, q, c.maskL); n > 0 {
		return i + n, true
	}
	i += len(q)
	c.fp = fp
	return i, c.cur+i == c.p.Max
}

// roll advances the gear fingerprint fp over q and returns the length of
// the prefix of q that ends at the first cut (fp&mask == 0), or 0 and the
// fingerprint after all of q. It takes two bytes a step, as FastCDC 2020
// does: fp<<2 + (gear[a]<<1 + gear[b]) equals (fp<<1 + gear[a])<<1 + gear[b],
// and the bracket does not depend on fp, so the chain each byte waits on is
// half as long; the fingerprint after the first byte is still checked.
func roll(fp uint64, q []byte, mask uint64) (uint64, int) {
	j := 0
	for ; j+1 < len(q); j += 2 {
		ga := gear[q[j]]
		mid := fp<<1 + ga
		fp = fp<<2 + (ga<<1 + gear[q[j+1]])
		if mid&mask == 0 {
			return mid, j + 1
		}
		if fp&mask == 0 {
			return fp, j + 2
		}
	}
	if j < len(q) {
		fp = fp<<1 + gear[q[j]]
		if fp&mask == 0 {
			return fp, j + 1
		}
	}
	return fp, 0
}

// emit closes the current chunk.
func (c *Chunker) emit() {
	// Sum straight into the list: summing into a local would move it to
	// the heap, one allocation per chunk.
	c.chunks = append(c.chunks, Chunk{Off: c.off, Len: int64(c.cur)})
	c.sha.Sum(c.chunks[len(c.chunks)-1].Sum[:0])
	c.off += int64(c.cur)
	c.cur, c.fp = 0, 0
	c.sha.Reset()
}

// Chunks returns the chunks closed so far, in order. The slice is the
// Chunker's: read it before the next Write.
func (c *Chunker) Chunks() []Chunk { return c.chunks }

// List closes the last chunk and returns the file's chunk list. It fails
// with ErrSizeChanged if the bytes written differ from the announced size.
// The returned list is the caller's; c may be Reset and reused.
func (c *Chunker) List() (List, error) {
	if c.finished {
		return List{}, errors.New("chunker: List called twice")
	}
	if c.cur > 0 {
		c.emit()
	}
	c.finished = true
	l := List{Total: c.off, Chunks: c.chunks}
	c.chunks = nil
	if c.want >= 0 && l.Total != c.want {
		return List{}, fmt.Errorf("unable to chunk file: %d bytes read, %d expected: %w", l.Total, c.want, ErrSizeChanged)
	}
	return l, nil
}
