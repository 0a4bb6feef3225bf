package wire

import (
	"encoding/binary"
	"math"
)

// reader decodes fixed-width fields and remembers the first shortfall, so a
// body parser reads every field and checks the error once.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
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

func (r *reader) u16() uint16 {
	if s := r.take(2); s != nil {
		return binary.BigEndian.Uint16(s)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if s := r.take(4); s != nil {
		return binary.BigEndian.Uint32(s)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if s := r.take(8); s != nil {
		return binary.BigEndian.Uint64(s)
	}
	return 0
}

// i64 reads a non-negative int64 (sizes, offsets); larger values are
// malformed rather than silently negative.
func (r *reader) size() int64 {
	v := r.u64()
	if v > math.MaxInt64 && r.err == nil {
		r.err = ErrMalformed
	}
	return int64(v)
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	switch {
	case n == 0:
		r.err = ErrShort
	case n < 0:
		r.err = ErrMalformed
	default:
		r.off += n
	}
	return v
}

func (r *reader) str() string {
	n := r.u16()
	return string(r.take(int(n)))
}

func appendStr(b []byte, s string, max int) []byte {
	if len(s) > max {
		s = s[:max]
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}
