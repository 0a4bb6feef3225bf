package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"strings"

	"github.com/ferry-sync/ferry/tree"
)

// ErrCorruptEntry is wrapped by every error ParseEntry returns.
var ErrCorruptEntry = errors.New("corrupt snapshot entry")

// The first byte of an encoded entry holds the kind in its low bits and says
// which optional fields follow, so a directory costs a handful of bytes.
const (
	kindMask   = 0x0f
	flagHash   = 0x10
	flagTarget = 0x20
	flagIno    = 0x40
	knownFlags = kindMask | flagHash | flagTarget | flagIno
)

// AppendEntry appends the binary form of e's Kind, Size, Mtime, Mode, Hash,
// Target and Ino to b. Path and Problem are not encoded: the path is the
// bbolt key and a problem is never stored.
//
// Layout: flags|kind (1 byte), size (zig-zag varint), mtime (zig-zag
// varint), mode (uvarint), [hash (8 bytes little-endian)], [target length
// (uvarint) and bytes], [ino (uvarint)].
func AppendEntry(b []byte, e tree.Entry) []byte {
	head := byte(e.Kind) & kindMask
	if e.Hash != 0 {
		head |= flagHash
	}
	if e.Target != "" {
		head |= flagTarget
	}
	if e.Ino != 0 {
		head |= flagIno
	}
	b = append(b, head)
	b = binary.AppendVarint(b, e.Size)
	b = binary.AppendVarint(b, e.Mtime)
	b = binary.AppendUvarint(b, uint64(e.Mode))
	if e.Hash != 0 {
		b = binary.LittleEndian.AppendUint64(b, e.Hash)
	}
	if e.Target != "" {
		b = binary.AppendUvarint(b, uint64(len(e.Target)))
		b = append(b, e.Target...)
	}
	if e.Ino != 0 {
		b = binary.AppendUvarint(b, e.Ino)
	}
	return b
}

// ParseEntry decodes one entry written by AppendEntry from the start of b
// and returns it with the number of bytes consumed. Path is left empty.
// Truncated or malformed input is an error wrapping ErrCorruptEntry.
func ParseEntry(b []byte) (tree.Entry, int, error) {
	var e tree.Entry
	bad := func(why string) (tree.Entry, int, error) {
		return tree.Entry{}, 0, fmt.Errorf("%w: %s", ErrCorruptEntry, why)
	}
	if len(b) == 0 {
		return bad("empty")
	}
	head := b[0]
	if head&^knownFlags != 0 {
		return bad(fmt.Sprintf("unknown flags %#x", head&^knownFlags))
	}
	e.Kind = tree.Kind(head & kindMask)
	if e.Kind > tree.Symlink {
		return bad(fmt.Sprintf("unknown kind %d", e.Kind))
	}
	n := 1
	var m int
	if e.Size, m = binary.Varint(b[n:]); m <= 0 {
		return bad("truncated size")
	}
	n += m
	if e.Mtime, m = binary.Varint(b[n:]); m <= 0 {
		return bad("truncated mtime")
	}
	n += m
	mode, m := binary.Uvarint(b[n:])
	if m <= 0 {
		return bad("truncated mode")
	}
	if mode > math.MaxUint32 {
		return bad("mode out of range")
	}
	e.Mode = fs.FileMode(mode)
	n += m
	if head&flagHash != 0 {
		if len(b[n:]) < 8 {
			return bad("truncated hash")
		}
		e.Hash = binary.LittleEndian.Uint64(b[n:])
		n += 8
	}
	if head&flagTarget != 0 {
		l, m := binary.Uvarint(b[n:])
		if m <= 0 {
			return bad("truncated target length")
		}
		n += m
		if l > uint64(len(b[n:])) {
			return bad("truncated target")
		}
		// The conversion copies, which matters: b may be bbolt's memory.
		e.Target = string(b[n : n+int(l)])
		n += int(l)
	}
	if head&flagIno != 0 {
		if e.Ino, m = binary.Uvarint(b[n:]); m <= 0 {
			return bad("truncated inode")
		}
		n += m
	}
	return e, n, nil
}

// parseValue decodes a stored value, which must hold exactly one entry.
func parseValue(path string, v []byte) (tree.Entry, error) {
	e, n, err := ParseEntry(v)
	if err != nil {
		return tree.Entry{}, fmt.Errorf("unable to decode entry %q: %w: %w", path, ErrDamaged, err)
	}
	if n != len(v) {
		return tree.Entry{}, fmt.Errorf("unable to decode entry %q: %w: %w: %d trailing bytes", path, ErrDamaged, ErrCorruptEntry, len(v)-n)
	}
	e.Path = path
	return e, nil
}

// Keys are paths with '/' replaced by NUL. NUL cannot occur in a valid path
// and sorts below every other byte, so bbolt's byte order equals
// tree.Compare: "a" < "a\x00b" < "a.txt", just as "a" < "a/b" < "a.txt".
// That lets Ancestor stream straight out of a cursor without sorting.
func appendKey(b []byte, path string) []byte {
	start := len(b)
	b = append(b, path...)
	for i := start; i < len(b); i++ {
		if b[i] == '/' {
			b[i] = 0
		}
	}
	return b
}

// keyPath is the inverse of appendKey; it copies, so the result may outlive
// the transaction that produced k.
func keyPath(k []byte) string {
	var sb strings.Builder
	sb.Grow(len(k))
	for len(k) > 0 {
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			sb.Write(k)
			break
		}
		sb.Write(k[:i])
		sb.WriteByte('/')
		k = k[i+1:]
	}
	return sb.String()
}

// ErrDamaged is wrapped by every error that means the file can no longer be
// trusted: a stored record whose checksum does not match, a record that
// does not decode, or a page bbolt cannot read. A caller that sees it has
// no trustworthy ancestor (see DB.Recover).
var ErrDamaged = errors.New("snapshot is damaged")

// ChecksumLen is the size of the CRC-32C that ends every stored value.
const ChecksumLen = 4

// recordSum is the CRC-32C (Castagnoli) of key and then value: a flip in
// either is caught, and so is a value that moved to another key.
func recordSum(key, value []byte) uint32 {
	t := crc32.MakeTable(crc32.Castagnoli) // the package caches the table
	return crc32.Update(crc32.Update(0, t, key), t, value)
}

// AppendRecord appends value and the checksum of key and value to b: the
// form in which every value is stored under key.
func AppendRecord(b, key, value []byte) []byte {
	b = append(b, value...)
	return binary.BigEndian.AppendUint32(b, recordSum(key, value))
}

// ParseRecord checks a value stored under key by AppendRecord and returns
// the value without its checksum (a sub-slice of stored). A short value or
// a wrong checksum is an error wrapping ErrDamaged.
func ParseRecord(key, stored []byte) ([]byte, error) {
	if len(stored) < ChecksumLen {
		return nil, fmt.Errorf("%w: record %q is %d bytes, too short for its checksum", ErrDamaged, keyPath(key), len(stored))
	}
	v, sum := stored[:len(stored)-ChecksumLen], binary.BigEndian.Uint32(stored[len(stored)-ChecksumLen:])
	if got := recordSum(key, v); got != sum {
		return nil, fmt.Errorf("%w: record %q has checksum %08x, its contents sum to %08x", ErrDamaged, keyPath(key), sum, got)
	}
	return v, nil
}

// parseStoredEntry decodes an ancestor or cache record: the checksum, then
// exactly one entry.
func parseStoredEntry(key, stored []byte) (tree.Entry, error) {
	v, err := ParseRecord(key, stored)
	if err != nil {
		return tree.Entry{}, err
	}
	return parseValue(keyPath(key), v)
}
