package wire

import (
	"encoding/binary"
	"fmt"
)

// DataOverhead is the encoded size of a Data body without its payload.
// The payload runs to the end of the body (version 3 dropped its 2-byte
// length: the body's end is the datagram's, authenticated by seal).
const DataOverhead = 4 + 6 + 4

// MaxOffset bounds Data.Offset and so the size of a file a session can
// carry (256 TiB): offsets travel in 48 bits.
const MaxOffset = 1<<48 - 1

// MaxPayload bounds a Data payload so a datagram stays below 64 KiB.
const MaxPayload = 65000

// Data carries one piece of one file's content.
type Data struct {
	File   uint32
	Offset int64
	// SentAt is the sender's clock in microseconds since its session
	// began, modulo 2^32 (it wraps after about 71 minutes; UnwrapMicros
	// restores it). The receiver derives one-way-delay samples from it
	// (the clocks' offset cancels out when only the variation is used).
	SentAt  uint32
	Payload []byte
}

// Append appends the encoded body to b. Offset must be within
// [0, MaxOffset]; the sender never announces a larger file.
func (d Data) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, d.File)
	b = append48(b, uint64(d.Offset))
	b = binary.BigEndian.AppendUint32(b, d.SentAt)
	return append(b, d.Payload...)
}

// ParseData decodes a Data body: the payload is everything after the
// fixed fields, so b must end where the body does. Payload aliases b.
func ParseData(b []byte) (Data, int, error) {
	r := reader{b: b}
	d := Data{File: r.u32()}
	if o := r.take(6); o != nil {
		d.Offset = int64(uint48(o))
	}
	d.SentAt = r.u32()
	d.Payload = r.take(len(b) - r.off)
	if r.err != nil {
		return Data{}, 0, fmt.Errorf("unable to parse DATA: %w", r.err)
	}
	return d, r.off, nil
}

// UnwrapMicros turns a 32-bit wrapped microsecond count back into a full
// one, taking the value nearest to ref (the full count the caller expects
// it to be close to, such as its own elapsed time or the last one seen).
func UnwrapMicros(ref int64, v uint32) int64 {
	const span = 1 << 32
	full := ref&^(span-1) | int64(v)
	switch {
	case full-ref > span/2:
		full -= span
	case ref-full > span/2:
		full += span
	}
	return full
}
