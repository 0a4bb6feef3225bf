package chunk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// List is the chunk list of one file: its chunks in order, which tile
// [0, Total) without gaps or overlaps.
type List struct {
	Total  int64
	Chunks []Chunk
}

// Codec limits and errors.
const (
	// Version is the first byte of an encoded list. It names the format and
	// the chunking (gear table, masks, size policy): lists of different
	// versions do not share boundaries.
	Version = 1
	// MaxTotal bounds the file size a list may describe (1 PiB), so sizes
	// and offsets never come near overflow.
	MaxTotal = 1 << 50
	// encodedChunkMin is the fewest bytes one encoded chunk can take: a
	// one-byte length and the sum. Parse checks a count against it before
	// allocating, so a hostile count cannot make it allocate more than a
	// small multiple of its input.
	encodedChunkMin = 1 + SumSize
)

var (
	// ErrShort reports an encoded list cut short.
	ErrShort = errors.New("chunk list truncated")
	// ErrMalformed reports an encoded or in-memory list that breaks the
	// format's rules.
	ErrMalformed = errors.New("malformed chunk list")
)

// Params returns the chunking a list of this total must have been made with.
func (l List) Params() (Params, bool) { return ParamsFor(l.Total) }

// EnsureValid checks what Parse checks, for a list made in memory: chunks
// tile [0, Total), every chunk but the last is within [Min, Max] of the
// chunking for Total, and the last within [1, Max].
func (l List) EnsureValid() error {
	if l.Total > MaxTotal {
		return fmt.Errorf("invalid chunk list: total %d over %d: %w", l.Total, int64(MaxTotal), ErrMalformed)
	}
	p, ok := l.Params()
	if !ok {
		return fmt.Errorf("invalid chunk list: a file of %d bytes has no chunk list: %w", l.Total, ErrMalformed)
	}
	var off int64
	for i, c := range l.Chunks {
		if c.Off != off {
			return fmt.Errorf("invalid chunk list: chunk %d at offset %d, want %d: %w", i, c.Off, off, ErrMalformed)
		}
		if err := checkLen(p, c.Len, i == len(l.Chunks)-1); err != nil {
			return fmt.Errorf("invalid chunk list: chunk %d: %w", i, err)
		}
		off += c.Len
	}
	if off != l.Total {
		return fmt.Errorf("invalid chunk list: chunks add up to %d bytes, total says %d: %w", off, l.Total, ErrMalformed)
	}
	return nil
}

func checkLen(p Params, n int64, last bool) error {
	lo := int64(p.Min)
	if last {
		lo = 1
	}
	if n < lo || n > int64(p.Max) {
		return fmt.Errorf("length %d outside [%d, %d]: %w", n, lo, p.Max, ErrMalformed)
	}
	return nil
}

// Append appends the encoding of l to b:
//
//	version  1 byte, Version
//	total    uvarint, the file size
//	count    uvarint, the number of chunks
//	count ×  uvarint chunk length, then its 32-byte SHA-256
//
// Offsets are not encoded: each is the sum of the lengths before it, so an
// encoded list cannot describe overlapping or out-of-order chunks. Every
// uvarint is in its shortest form, so a list has exactly one encoding.
func (l List) Append(b []byte) []byte {
	b = append(b, Version)
	b = binary.AppendUvarint(b, uint64(l.Total))
	b = binary.AppendUvarint(b, uint64(len(l.Chunks)))
	for _, c := range l.Chunks {
		b = binary.AppendUvarint(b, uint64(c.Len))
		b = append(b, c.Sum[:]...)
	}
	return b
}

// EncodedLen is len(l.Append(nil)).
func (l List) EncodedLen() int {
	n := 1 + uvarintLen(uint64(l.Total)) + uvarintLen(uint64(len(l.Chunks)))
	for _, c := range l.Chunks {
		n += uvarintLen(uint64(c.Len)) + SumSize
	}
	return n
}

// ParseList decodes a list from the front of b and returns it with the number
// of bytes it took. It trusts nothing: the count must fit the total and the
// input, lengths must be within the chunking's bounds and add up to the
// total; any prefix of a valid encoding is rejected with ErrShort.
func ParseList(b []byte) (List, int, error) {
	l, n, err := parseList(b)
	if err != nil {
		return List{}, 0, fmt.Errorf("unable to parse chunk list: %w", err)
	}
	return l, n, nil
}

func parseList(b []byte) (List, int, error) {
	r := reader{b: b}
	if v := r.u8(); r.err == nil && v != Version {
		return List{}, 0, fmt.Errorf("version %d, want %d: %w", v, Version, ErrMalformed)
	}
	total := r.uvarint()
	if r.err != nil {
		return List{}, 0, r.err
	}
	if total > MaxTotal {
		return List{}, 0, fmt.Errorf("total %d over %d: %w", total, int64(MaxTotal), ErrMalformed)
	}
	p, ok := ParamsFor(int64(total))
	if !ok {
		return List{}, 0, fmt.Errorf("a file of %d bytes has no chunk list: %w", total, ErrMalformed)
	}
	count := r.uvarint()
	if r.err != nil {
		return List{}, 0, r.err
	}
	// Every chunk but the last is at least Min long and none is over Max.
	lo := (total + uint64(p.Max) - 1) / uint64(p.Max)
	hi := (total+uint64(p.Min)-1)/uint64(p.Min) + 1
	if count < lo || count > hi {
		return List{}, 0, fmt.Errorf("%d chunks cannot make %d bytes: %w", count, total, ErrMalformed)
	}
	if count > uint64(len(b)-r.off)/encodedChunkMin {
		return List{}, 0, ErrShort
	}
	l := List{Total: int64(total), Chunks: make([]Chunk, count)}
	var off uint64
	for i := range l.Chunks {
		n := r.uvarint()
		s := r.take(SumSize)
		if r.err != nil {
			return List{}, 0, r.err
		}
		if err := checkLen(p, int64(min(n, MaxTotal)), i == len(l.Chunks)-1); err != nil {
			return List{}, 0, fmt.Errorf("chunk %d: %w", i, err)
		}
		if off+n > total {
			return List{}, 0, fmt.Errorf("chunk %d ends at %d, past the total %d: %w", i, off+n, total, ErrMalformed)
		}
		l.Chunks[i] = Chunk{Off: int64(off), Len: int64(n)}
		copy(l.Chunks[i].Sum[:], s)
		off += n
	}
	if off != total {
		return List{}, 0, fmt.Errorf("chunks add up to %d bytes, total says %d: %w", off, total, ErrMalformed)
	}
	return l, r.off, nil
}

// reader decodes fields and remembers the first failure, as in
// transport/wire.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b)-r.off < n {
		r.err = ErrShort
		return nil
	}
	s := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return s
}

func (r *reader) u8() uint8 {
	if s := r.take(1); s != nil {
		return s[0]
	}
	return 0
}

// uvarint reads a uvarint in its shortest form; a longer form is malformed,
// so that every list has one encoding.
func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	switch {
	case n == 0:
		r.err = ErrShort
	case n < 0 || n != uvarintLen(v):
		r.err = ErrMalformed
	default:
		r.off += n
	}
	return v
}

func uvarintLen(v uint64) int {
	return (bits.Len64(v|1) + 6) / 7
}
