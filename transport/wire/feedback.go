package wire

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Range is an inclusive range of packet numbers.
type Range struct {
	Lo, Hi uint64
}

// RateRequest is a receiver's rate policy and caps in bits per second.
// Policy 0 means none; the data package maps the other values to cc
// policies. Target, Min and Max of 0 mean unset.
type RateRequest struct {
	Policy           uint8
	Target, Min, Max uint64
}

// MaxRanges bounds the ranges one Feedback carries; older ranges are dropped
// by the receiver first.
const MaxRanges = 256

// Feedback is the receiver's periodic report (about every 10 ms while data
// flows). Ranges acknowledge packet numbers, newest first; the sender treats
// what falls between them as lost once it is old enough, so only recent
// history needs to be carried.
type Feedback struct {
	// AckDelay is how long the receiver held the largest acknowledged
	// packet before sending this report; the sender subtracts it from its
	// RTT sample.
	AckDelay time.Duration
	// RecvRate is what arrived in the last interval, in bits per second.
	RecvRate uint64
	// Received counts packets that arrived in the last interval.
	Received uint32
	// OWDSamples counts the Data packets MinOWD and MeanOWD come from; the
	// values are receive clock minus SentAt and meaningful only as
	// variations (the two clocks are not synchronised).
	OWDSamples uint32
	MinOWD     time.Duration
	MeanOWD    time.Duration
	// Want is the rate the receiver asks the sender to keep to (its own
	// bandwidth settings, changeable live); zero fields ask for nothing.
	Want RateRequest
	// Ranges are disjoint and sorted by descending Hi.
	Ranges []Range
}

// Largest returns the largest acknowledged packet number.
func (f Feedback) Largest() (uint64, bool) {
	if len(f.Ranges) == 0 {
		return 0, false
	}
	return f.Ranges[0].Hi, true
}

// Append appends the encoded body to b. Ranges beyond MaxRanges are left out.
// The ranges must be sorted, disjoint and not adjacent, as the receiver
// builds them.
func (f Feedback) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(f.AckDelay/time.Microsecond))
	b = binary.BigEndian.AppendUint64(b, f.RecvRate)
	b = binary.BigEndian.AppendUint32(b, f.Received)
	b = binary.BigEndian.AppendUint32(b, f.OWDSamples)
	b = binary.BigEndian.AppendUint64(b, uint64(f.MinOWD))
	b = binary.BigEndian.AppendUint64(b, uint64(f.MeanOWD))
	b = append(b, f.Want.Policy)
	b = binary.BigEndian.AppendUint64(b, f.Want.Target)
	b = binary.BigEndian.AppendUint64(b, f.Want.Min)
	b = binary.BigEndian.AppendUint64(b, f.Want.Max)
	rs := f.Ranges
	if len(rs) > MaxRanges {
		rs = rs[:MaxRanges]
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(rs)))
	for i, r := range rs {
		if i == 0 {
			b = binary.AppendUvarint(b, r.Hi)
		} else {
			b = binary.AppendUvarint(b, rs[i-1].Lo-r.Hi-2)
		}
		b = binary.AppendUvarint(b, r.Hi-r.Lo)
	}
	return b
}

// ParseFeedback decodes a Feedback body.
func ParseFeedback(b []byte) (Feedback, int, error) {
	r := reader{b: b}
	f := Feedback{
		AckDelay:   time.Duration(r.u32()) * time.Microsecond,
		RecvRate:   r.u64(),
		Received:   r.u32(),
		OWDSamples: r.u32(),
		MinOWD:     time.Duration(r.u64()),
		MeanOWD:    time.Duration(r.u64()),
		Want:       RateRequest{Policy: r.u8(), Target: r.u64(), Min: r.u64(), Max: r.u64()},
	}
	n := int(r.u16())
	if r.err == nil && n > MaxRanges {
		r.err = ErrMalformed
	}
	if r.err == nil && n > 0 {
		f.Ranges = make([]Range, 0, n)
	}
	var next uint64 // largest value the next range's Hi may take
	for i := 0; i < n && r.err == nil; i++ {
		var hi uint64
		if i == 0 {
			hi = r.uvarint()
		} else {
			gap := r.uvarint()
			if gap+2 < gap || next < gap+1 {
				r.err = ErrMalformed
				break
			}
			hi = next - gap - 1
		}
		l := r.uvarint()
		if r.err != nil {
			break
		}
		if l > hi {
			r.err = ErrMalformed
			break
		}
		lo := hi - l
		f.Ranges = append(f.Ranges, Range{Lo: lo, Hi: hi})
		// The next range ends at least two below lo (one gap packet).
		if lo < 2 && i < n-1 {
			r.err = ErrMalformed
			break
		}
		next = lo - 1
	}
	if r.err != nil {
		return Feedback{}, 0, fmt.Errorf("unable to parse FEEDBACK: %w", r.err)
	}
	return f, r.off, nil
}
