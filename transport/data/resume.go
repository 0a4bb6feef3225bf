package data

import (
	"encoding/binary"
	"errors"
	"io"

	"github.com/cespare/xxhash/v2"
	"github.com/ferry-sync/ferry/endpoint"
)

// Resumable is a FileWriter that can continue a partial file (localfs's
// can): the receiver then checkpoints which byte ranges it has written,
// and at the start of a later session offers the sender the chunks it
// already holds, hashed from disk, so only the rest is sent.
type Resumable interface {
	endpoint.Checkpointer
	io.ReaderAt
}

// Truncater is optionally implemented by FileWriters; the receiver cuts a
// partial longer than the file back to the file's size (and a retry from
// scratch back to it too), since stale tail bytes would fail the hash.
type Truncater interface {
	Truncate(size int64) error
}

// Checkpoint format: magic, the file's size and hash (a checkpoint of
// another version is ignored), then the written ranges.
const ckptMagic = "FCK1"

func encodeCheckpoint(size int64, hash uint64, got *rangeSet) []byte {
	b := append([]byte(nil), ckptMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(size))
	b = binary.BigEndian.AppendUint64(b, hash)
	b = binary.BigEndian.AppendUint32(b, uint32(len(got.s)))
	for _, s := range got.s {
		b = binary.BigEndian.AppendUint64(b, uint64(s.lo))
		b = binary.BigEndian.AppendUint64(b, uint64(s.hi))
	}
	return b
}

var errBadCheckpoint = errors.New("checkpoint unreadable")

func decodeCheckpoint(b []byte, size int64, hash uint64) (rangeSet, error) {
	var set rangeSet
	if len(b) < 24 || string(b[:4]) != ckptMagic {
		return set, errBadCheckpoint
	}
	if int64(binary.BigEndian.Uint64(b[4:])) != size || binary.BigEndian.Uint64(b[12:]) != hash {
		return set, errBadCheckpoint
	}
	n := int(binary.BigEndian.Uint32(b[20:]))
	b = b[24:]
	if n < 0 || len(b) != n*16 {
		return set, errBadCheckpoint
	}
	for i := 0; i < n; i++ {
		lo, hi := int64(binary.BigEndian.Uint64(b[i*16:])), int64(binary.BigEndian.Uint64(b[i*16+8:]))
		if lo < 0 || hi > size || lo >= hi {
			return rangeSet{}, errBadCheckpoint
		}
		set.add(lo, hi)
	}
	return set, nil
}

// heldChunks lists the chunks of a partial that a resume can offer: those
// entirely inside the checkpoint's ranges (or, with no usable checkpoint,
// inside the partial's existing length), each hashed from what is on disk
// now, so an unflushed write before a crash is caught by the sender's check.
func heldChunks(res Resumable, size int64, hash uint64, chunk int64) ([]chunkHash, error) {
	have := min(res.ExistingSize(), size)
	if have <= 0 {
		return nil, nil
	}
	var ranges rangeSet
	if b, err := res.LoadCheckpoint(); err == nil && len(b) > 0 {
		if set, err := decodeCheckpoint(b, size, hash); err == nil {
			ranges = set
		}
	}
	if len(ranges.s) == 0 {
		ranges.add(0, have)
	}
	return hashHeld(res, &ranges, size, have, chunk)
}

// partHeld lists the chunks of a split file's part that its partial can
// offer: those inside both the part and the checkpoint's ranges. Without
// a checkpoint nothing is offered, since other sessions write the rest of
// the file and its length says nothing about this part.
func partHeld(res Resumable, info FileInfo, chunk int64) ([]chunkHash, error) {
	have := min(res.ExistingSize(), info.Size)
	if have <= 0 {
		return nil, nil
	}
	b, err := res.LoadCheckpoint()
	if err != nil || len(b) == 0 {
		return nil, nil
	}
	set, err := decodeCheckpoint(b, info.Size, info.Hash)
	if err != nil {
		return nil, nil
	}
	in := set.within(info.Part.Off, info.Part.Off+info.Part.Len)
	return hashHeld(res, &in, info.Size, have, chunk)
}

// SeedChunkSize is the granularity at which a seeded file's held ranges
// are offered: about 4,096 chunks a file, between 16 KiB and the default
// resume chunk, so an edit costs a few small chunks around it.
func SeedChunkSize(size int64) int64 {
	cs := int64(16 << 10)
	for cs < DefaultChunkSize && size/cs > 4096 {
		cs *= 2
	}
	return cs
}

// hashHeld hashes, from what res holds on disk, every chunk of a file of
// size bytes that lies entirely inside ranges and within [0, have).
func hashHeld(res Resumable, ranges *rangeSet, size, have, chunk int64) ([]chunkHash, error) {
	var out []chunkHash
	buf := make([]byte, chunk)
	for i := int64(0); i*chunk < have; i++ {
		lo, hi := i*chunk, min((i+1)*chunk, size)
		if hi > have || !ranges.contains(lo, hi) {
			continue
		}
		n, err := res.ReadAt(buf[:hi-lo], lo)
		if int64(n) != hi-lo {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return out, err
		}
		out = append(out, chunkHash{index: uint32(i), hash: xxhash.Sum64(buf[:n])})
	}
	return out, nil
}

type chunkHash struct {
	index uint32
	hash  uint64
}
