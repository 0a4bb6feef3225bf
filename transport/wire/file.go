package wire

import (
	"encoding/binary"
	"fmt"
	"math"
)

// File flags.
const (
	// FileFresh asks the receiver to ignore any partial or checkpoint it
	// holds and take every byte anew (the retry after a hash mismatch).
	FileFresh uint8 = 1 << 0
	// FilePart announces one byte range of a file split across data
	// sessions: PartOff and PartLen follow the path. The receiver commits
	// its part once the range is in; the file is verified whole, and
	// renamed, when every part is.
	FilePart uint8 = 1 << 1
)

// MaxPathLen bounds File.Path on the wire (tree.MaxPathLen).
const MaxPathLen = 4096

// File announces one file of the session; the receiver answers with Accept.
type File struct {
	ID    uint32
	Flags uint8
	Size  int64
	Hash  uint64
	Mode  uint32
	Mtime int64
	Path  string
	// PartOff and PartLen are the range this session carries (FilePart).
	PartOff, PartLen int64
}

// Append appends the encoded body to b. Paths longer than MaxPathLen are
// cut; the receiver's path validation then rejects the file. The id, size
// and mode are varints (version 3): a small file's announcement is paid
// once per file, and on a tree of small files those bytes add up.
func (f File) Append(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(f.ID))
	b = append(b, f.Flags)
	b = binary.AppendUvarint(b, uint64(f.Size))
	b = binary.BigEndian.AppendUint64(b, f.Hash)
	b = binary.AppendUvarint(b, uint64(f.Mode))
	b = binary.BigEndian.AppendUint64(b, uint64(f.Mtime))
	b = appendStr(b, f.Path, MaxPathLen)
	if f.Flags&FilePart != 0 {
		b = binary.AppendUvarint(b, uint64(f.PartOff))
		b = binary.AppendUvarint(b, uint64(f.PartLen))
	}
	return b
}

// ParseFile decodes a File body.
func ParseFile(b []byte) (File, int, error) {
	r := reader{b: b}
	id := r.uvarint()
	f := File{Flags: r.u8()}
	size := r.uvarint()
	f.Hash = r.u64()
	mode := r.uvarint()
	f.Mtime = int64(r.u64())
	f.Path = r.str()
	f.ID, f.Size, f.Mode = uint32(id), int64(size), uint32(mode)
	if r.err == nil && (id > math.MaxUint32 || size > math.MaxInt64 || mode > math.MaxUint32 || len(f.Path) > MaxPathLen) {
		r.err = ErrMalformed
	}
	if f.Flags&FilePart != 0 {
		off, n := r.uvarint(), r.uvarint()
		if r.err == nil && (n == 0 || off > size || n > size-off) {
			r.err = ErrMalformed
		}
		f.PartOff, f.PartLen = int64(off), int64(n)
	}
	if r.err != nil {
		return File{}, 0, fmt.Errorf("unable to parse FILE: %w", r.err)
	}
	return f, r.off, nil
}
