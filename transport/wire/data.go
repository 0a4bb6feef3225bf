package wire

import (
	"encoding/binary"
	"fmt"
)

// DataOverhead is the encoded size of a Data body without its payload.
const DataOverhead = 4 + 8 + 8 + 2

// MaxPayload bounds a Data payload so a datagram stays below 64 KiB.
const MaxPayload = 65000

// Data carries one piece of one file's content.
type Data struct {
	File   uint32
	Offset int64
	// SentAt is the sender's clock in nanoseconds since its session began;
	// the receiver derives one-way-delay samples from it (the clocks' offset
	// cancels out when only the variation is used).
	SentAt  int64
	Payload []byte
}

// Append appends the encoded body to b.
func (d Data) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, d.File)
	b = binary.BigEndian.AppendUint64(b, uint64(d.Offset))
	b = binary.BigEndian.AppendUint64(b, uint64(d.SentAt))
	b = binary.BigEndian.AppendUint16(b, uint16(len(d.Payload)))
	return append(b, d.Payload...)
}

// ParseData decodes a Data body. Payload aliases b.
func ParseData(b []byte) (Data, int, error) {
	r := reader{b: b}
	d := Data{File: r.u32(), Offset: r.size(), SentAt: int64(r.u64())}
	n := int(r.u16())
	d.Payload = r.take(n)
	if r.err != nil {
		return Data{}, 0, fmt.Errorf("unable to parse DATA: %w", r.err)
	}
	if d.Offset+int64(n) < d.Offset {
		return Data{}, 0, fmt.Errorf("unable to parse DATA: %w: offset overflows", ErrMalformed)
	}
	return d, r.off, nil
}
