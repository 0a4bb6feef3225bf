package control

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf8"

	"github.com/ferry-sync/ferry/delta/chunk"
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed control message")

// ErrTruncated reports that b holds only a prefix of a frame; it wraps
// ErrMalformed.
var ErrTruncated = fmt.Errorf("%w: truncated", ErrMalformed)

// Limits that keep a hostile peer from making us allocate without bound.
const (
	// MaxFrame bounds one frame's body (type byte included).
	MaxFrame = 4 << 20
	// MaxData is the largest Data payload a sender puts in one frame.
	MaxData = 256 << 10
	// maxString bounds one string field; paths are at most 4096 bytes, but
	// a symlink target or an error message may be longer.
	maxString = 64 << 10
	// maxList bounds repeated fields (entries in a batch, exclude patterns).
	maxList = 1 << 16
)

// encoder helpers append primitive fields.

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
func appendVarint(b []byte, v int64) []byte   { return binary.AppendVarint(b, v) }

func appendString(b []byte, s string) []byte {
	b = appendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, p []byte) []byte {
	b = appendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// decoder reads fields from one frame body, remembering the first error so
// that message decoders read straight through and check once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(why string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, why)
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) u32() uint32 {
	v := d.uvarint()
	if v > math.MaxUint32 {
		d.fail("value out of range")
		return 0
	}
	return uint32(v)
}

func (d *decoder) u64fixed() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail("short fixed field")
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) byte1() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail("short field")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bool() bool {
	switch d.byte1() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bad bool")
	return false
}

func (d *decoder) bytesN(max int) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(max) || n > uint64(len(d.b)) {
		d.fail("length out of range")
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) string() string {
	p := d.bytesN(maxString)
	if d.err != nil {
		return ""
	}
	if !utf8.Valid(p) {
		// Paths on Linux may be any bytes, but ferry only syncs names that
		// survive every filesystem it meets; refuse the rest early.
		d.fail("string is not UTF-8")
		return ""
	}
	return string(p)
}

func (d *decoder) count() int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	// Every element takes at least one byte, so a count above the bytes
	// left is a lie that would make us allocate.
	if n > maxList || n > uint64(len(d.b)) {
		d.fail("count out of range")
		return 0
	}
	return int(n)
}

func (d *decoder) finish() error {
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.b))
	}
	return nil
}

// frameHeader is the 4-byte big-endian body length in front of each frame.
const frameHeader = 4

// Append encodes m as one frame appended to b.
func Append(b []byte, m Msg) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, byte(m.Type()))
	b = m.appendBody(b)
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-frameHeader))
	return b
}

// Parse decodes the frame at the start of b and returns it with the number
// of bytes it took. A prefix of a frame gives an error wrapping ErrTruncated.
// Byte slices in the result alias b.
func Parse(b []byte) (Msg, int, error) {
	if len(b) < frameHeader {
		return nil, 0, ErrTruncated
	}
	n := binary.BigEndian.Uint32(b)
	if n == 0 || n > MaxFrame {
		return nil, 0, fmt.Errorf("%w: frame length %d", ErrMalformed, n)
	}
	if uint64(len(b)-frameHeader) < uint64(n) {
		return nil, 0, ErrTruncated
	}
	body := b[frameHeader : frameHeader+int(n)]
	m, err := parseBody(MsgType(body[0]), body[1:])
	if err != nil {
		return nil, 0, err
	}
	return m, frameHeader + int(n), nil
}

// ReadFrame reads one whole frame from r into buf (grown as needed) and
// decodes it. The message may alias the returned buffer, which the caller
// passes back in on the next call.
func ReadFrame(r io.Reader, buf []byte) (Msg, []byte, error) {
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, buf, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > MaxFrame {
		return nil, buf, fmt.Errorf("%w: frame length %d", ErrMalformed, n)
	}
	need := frameHeader + int(n)
	if cap(buf) < need {
		buf = make([]byte, need)
	}
	buf = buf[:need]
	copy(buf, hdr[:])
	if _, err := io.ReadFull(r, buf[frameHeader:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, buf, err
	}
	m, _, err := Parse(buf)
	return m, buf, err
}

// WriteFrame encodes m into scratch and writes it to w in one call, so that
// frames from one writer are never interleaved. It returns scratch for reuse.
func WriteFrame(w io.Writer, scratch []byte, m Msg) ([]byte, error) {
	scratch = Append(scratch[:0], m)
	_, err := w.Write(scratch)
	return scratch, err
}

// bytesFixed takes exactly n bytes.
func (d *decoder) bytesFixed(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail("truncated")
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

// chunkList decodes a chunk list (chunk.ParseList), which rejects any
// list that does not tile its file within the chunking's bounds.
func (d *decoder) chunkList() chunk.List {
	if d.err != nil {
		return chunk.List{}
	}
	l, n, err := chunk.ParseList(d.b)
	if err != nil {
		d.fail("bad chunk list: " + err.Error())
		return chunk.List{}
	}
	d.b = d.b[n:]
	return l
}

// appendRanges encodes ranges that are in order and disjoint: a count,
// then for each the gap since the previous one's end and its length.
func appendRanges(b []byte, rs []chunk.Range) []byte {
	b = appendUvarint(b, uint64(len(rs)))
	at := int64(0)
	for _, r := range rs {
		b = appendUvarint(b, uint64(r.Off-at))
		b = appendUvarint(b, uint64(r.Len))
		at = r.Off + r.Len
	}
	return b
}

// ranges decodes what appendRanges encodes: at least one range, at most
// MaxRanges, none empty, ending within MaxTotal of a chunk list.
func (d *decoder) ranges() []chunk.Range {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	// Every range takes at least two bytes.
	if n == 0 || n > MaxRanges || n > uint64(len(d.b)/2) {
		d.fail("range count out of range")
		return nil
	}
	rs := make([]chunk.Range, 0, n)
	at := uint64(0)
	for range n {
		gap, l := d.uvarint(), d.uvarint()
		if d.err != nil {
			return nil
		}
		if l == 0 || gap > chunk.MaxTotal || l > chunk.MaxTotal || at+gap+l > chunk.MaxTotal {
			d.fail("bad range")
			return nil
		}
		rs = append(rs, chunk.Range{Off: int64(at + gap), Len: int64(l)})
		at += gap + l
	}
	return rs
}
