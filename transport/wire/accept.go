package wire

import (
	"encoding/binary"
	"fmt"
)

// Chunk names a chunk of a file the receiver already holds, with the xxhash64
// of its bytes as they are on the receiver's disk.
type Chunk struct {
	Index uint32
	Hash  uint64
}

// ChunkLen is the encoded size of one Chunk.
const ChunkLen = 4 + 8

// Accept is the receiver's answer to File. When Code is not CodeOK the file
// is refused and Msg says why. Chunks lists what a resumed partial already
// holds; long lists are split over Parts packets, numbered by Part.
type Accept struct {
	ID        uint32
	Code      Code
	Msg       string
	ChunkSize uint32
	Part      uint16
	Parts     uint16
	Chunks    []Chunk
}

// Append appends the encoded body to b.
func (a Accept) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, a.ID)
	b = append(b, byte(a.Code))
	b = appendStr(b, a.Msg, MaxMsgLen)
	b = binary.BigEndian.AppendUint32(b, a.ChunkSize)
	b = binary.BigEndian.AppendUint16(b, a.Part)
	b = binary.BigEndian.AppendUint16(b, a.Parts)
	b = binary.BigEndian.AppendUint16(b, uint16(len(a.Chunks)))
	for _, c := range a.Chunks {
		b = binary.BigEndian.AppendUint32(b, c.Index)
		b = binary.BigEndian.AppendUint64(b, c.Hash)
	}
	return b
}

// ParseAccept decodes an Accept body.
func ParseAccept(b []byte) (Accept, int, error) {
	r := reader{b: b}
	a := Accept{ID: r.u32(), Code: Code(r.u8()), Msg: r.str(), ChunkSize: r.u32(), Part: r.u16(), Parts: r.u16()}
	n := int(r.u16())
	raw := r.take(n * ChunkLen)
	if r.err == nil && (a.Parts == 0 || a.Part >= a.Parts || (n > 0 && a.ChunkSize == 0)) {
		r.err = ErrMalformed
	}
	if r.err != nil {
		return Accept{}, 0, fmt.Errorf("unable to parse ACCEPT: %w", r.err)
	}
	if n > 0 {
		a.Chunks = make([]Chunk, n)
		for i := range a.Chunks {
			c := raw[i*ChunkLen:]
			a.Chunks[i] = Chunk{Index: binary.BigEndian.Uint32(c), Hash: binary.BigEndian.Uint64(c[4:])}
		}
	}
	return a, r.off, nil
}
