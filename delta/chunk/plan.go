package chunk

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"sort"
)

// OpKind says where the bytes of one Op come from.
type OpKind uint8

const (
	// Copy takes the bytes from the base file, at BaseOff.
	Copy OpKind = iota + 1
	// Literal takes the bytes from the new file itself: they must be sent.
	Literal
)

func (k OpKind) String() string {
	switch k {
	case Copy:
		return "copy"
	case Literal:
		return "literal"
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

// Op is one step of building the new file: its bytes [Off, Off+Len).
type Op struct {
	Kind    OpKind
	Off     int64 // offset in the new file
	Len     int64
	BaseOff int64 // Copy: offset in the base file
}

// Plan returns how to build the file described by next from the base file
// described by base: ops in order of Off that tile [0, next.Total), each a
// Copy of whole base chunks whose SHA-256 matches, or a Literal of the new
// file. Adjacent ops of one kind are merged when their ranges continue each
// other. Plan is pure: it reads neither file and trusts neither list beyond
// its sums (Build re-checks every copied byte).
//
// Where the base holds the same content more than once, Plan prefers the
// chunk that continues the previous copy, so runs stay long.
func Plan(base, next List) []Op {
	first := make(map[[SumSize]byte]int, len(base.Chunks))
	for i := len(base.Chunks) - 1; i >= 0; i-- {
		first[base.Chunks[i].Sum] = i
	}
	var ops []Op
	prevBase := -1 // base chunk index the last Copy ended with
	for _, c := range next.Chunks {
		j, ok := -1, false
		if prevBase >= 0 && prevBase+1 < len(base.Chunks) && base.Chunks[prevBase+1].Sum == c.Sum && base.Chunks[prevBase+1].Len == c.Len {
			j, ok = prevBase+1, true
		} else if k, found := first[c.Sum]; found && base.Chunks[k].Len == c.Len {
			j, ok = k, true
		}
		if !ok {
			prevBase = -1
			if n := len(ops); n > 0 && ops[n-1].Kind == Literal {
				ops[n-1].Len += c.Len
				continue
			}
			ops = append(ops, Op{Kind: Literal, Off: c.Off, Len: c.Len})
			continue
		}
		bc := base.Chunks[j]
		prevBase = j
		if n := len(ops); n > 0 && ops[n-1].Kind == Copy && ops[n-1].BaseOff+ops[n-1].Len == bc.Off {
			ops[n-1].Len += c.Len
			continue
		}
		ops = append(ops, Op{Kind: Copy, Off: c.Off, Len: c.Len, BaseOff: bc.Off})
	}
	return ops
}

// LiteralBytes is how many bytes of ops must come from the new file.
func LiteralBytes(ops []Op) int64 {
	var n int64
	for _, o := range ops {
		if o.Kind == Literal {
			n += o.Len
		}
	}
	return n
}

// ErrPlan reports ops that do not fit the lists they are applied with.
var ErrPlan = errors.New("invalid delta plan")

// CheckPlan checks that ops tile [0, total) in order and that every Copy
// covers whole chunks of base, so each copied byte can be verified.
func CheckPlan(ops []Op, base List, total int64) error {
	var off int64
	for i, o := range ops {
		if o.Off != off || o.Len <= 0 || o.Len > total-off {
			return fmt.Errorf("op %d (%s at %d, %d bytes) does not continue at %d of %d: %w", i, o.Kind, o.Off, o.Len, off, total, ErrPlan)
		}
		switch o.Kind {
		case Literal:
		case Copy:
			if err := checkCopy(base, o); err != nil {
				return fmt.Errorf("op %d: %w", i, err)
			}
		default:
			return fmt.Errorf("op %d has kind %d: %w", i, o.Kind, ErrPlan)
		}
		off += o.Len
	}
	if off != total {
		return fmt.Errorf("ops cover %d of %d bytes: %w", off, total, ErrPlan)
	}
	return nil
}

// checkCopy checks that a Copy covers whole chunks of base.
func checkCopy(base List, o Op) error {
	if o.Len <= 0 || chunkAt(base, o.BaseOff) < 0 || o.Len > base.Total-o.BaseOff ||
		chunkAt(base, o.BaseOff+o.Len) < 0 && o.BaseOff+o.Len != base.Total {
		return fmt.Errorf("copy of base [%d, %d) is not whole base chunks: %w", o.BaseOff, o.BaseOff+o.Len, ErrPlan)
	}
	return nil
}

// chunkAt returns the index of the base chunk starting at off, or -1.
func chunkAt(base List, off int64) int {
	j := sort.Search(len(base.Chunks), func(i int) bool { return base.Chunks[i].Off >= off })
	if j < len(base.Chunks) && base.Chunks[j].Off == off {
		return j
	}
	return -1
}

// CopyBase performs the Copy ops of a plan: it reads each base chunk, writes
// it to dst at its place in the new file and checks its SHA-256 against
// base. It returns the ops still to fill from the new file: the plan's
// Literals and every copied chunk whose bytes no longer match (the base file
// changed since base was computed), merged and in order. dst then holds
// wrong bytes in those ranges until the caller writes them.
//
// buf is scratch space (32 KiB or more is sensible); the base may be read
// concurrently by others but dst must not be the base file. An error means
// reading the base or writing dst failed for a reason other than the base
// being shorter than base says (which only makes chunks missing).
func CopyBase(dst io.WriterAt, src io.ReaderAt, base List, ops []Op, buf []byte) ([]Op, error) {
	if len(buf) == 0 {
		buf = make([]byte, 64<<10)
	}
	h := sha256.New()
	var sum [SumSize]byte
	for _, o := range ops {
		if o.Kind == Copy {
			if err := checkCopy(base, o); err != nil {
				return nil, err
			}
		}
	}
	var rest []Op
	add := func(off, n int64) {
		if k := len(rest); k > 0 && rest[k-1].Off+rest[k-1].Len == off {
			rest[k-1].Len += n
			return
		}
		rest = append(rest, Op{Kind: Literal, Off: off, Len: n})
	}
	for _, o := range ops {
		if o.Kind != Copy {
			add(o.Off, o.Len)
			continue
		}
		for j := chunkAt(base, o.BaseOff); j < len(base.Chunks) && base.Chunks[j].Off < o.BaseOff+o.Len; j++ {
			bc := base.Chunks[j]
			at := o.Off + bc.Off - o.BaseOff
			ok, err := copyChunk(dst, src, bc, at, buf, h, &sum)
			if err != nil {
				return nil, err
			}
			if !ok {
				add(at, bc.Len)
			}
		}
	}
	return rest, nil
}

// copyChunk copies one base chunk to dst at at, hashing on the way, and
// reports whether its bytes matched the chunk's sum.
func copyChunk(dst io.WriterAt, src io.ReaderAt, bc Chunk, at int64, buf []byte, h hash.Hash, sum *[SumSize]byte) (bool, error) {
	h.Reset()
	for done := int64(0); done < bc.Len; {
		b := buf[:min(int64(len(buf)), bc.Len-done)]
		n, err := src.ReadAt(b, bc.Off+done)
		if n < len(b) {
			if err == nil || errors.Is(err, io.EOF) {
				return false, nil // the base shrank: this chunk is gone
			}
			return false, fmt.Errorf("unable to read base at %d: %w", bc.Off+done, err)
		}
		h.Write(b)
		if _, err := dst.WriteAt(b, at+done); err != nil {
			return false, fmt.Errorf("unable to write at %d: %w", at+done, err)
		}
		done += int64(n)
	}
	return bytes.Equal(h.Sum(sum[:0]), bc.Sum[:]), nil
}

// Stats says where the bytes of a built file came from.
type Stats struct {
	Copied  int64 // from the base, verified
	Literal int64 // from the new file as planned
	Refetch int64 // planned as copies, taken from the new file because the base had changed
}

// Build writes the file described by ops into dst: Copy ops from src (the
// base, verified chunk by chunk against base), then every Literal and every
// chunk that failed verification from lit, which reads the new file's bytes
// at their offsets. It checks the plan first (CheckPlan). The caller sizes
// dst to total and still verifies the whole file's hash before using it.
func Build(dst io.WriterAt, src io.ReaderAt, base List, ops []Op, total int64, lit io.ReaderAt, buf []byte) (Stats, error) {
	if err := CheckPlan(ops, base, total); err != nil {
		return Stats{}, err
	}
	if len(buf) == 0 {
		buf = make([]byte, 64<<10)
	}
	rest, err := CopyBase(dst, src, base, ops, buf)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{Literal: LiteralBytes(ops)}
	st.Refetch = LiteralBytes(rest) - st.Literal
	st.Copied = total - st.Literal - st.Refetch
	for _, o := range rest {
		if err := copyRange(dst, lit, o.Off, o.Len, buf); err != nil {
			return Stats{}, err
		}
	}
	return st, nil
}

func copyRange(dst io.WriterAt, src io.ReaderAt, off, n int64, buf []byte) error {
	for done := int64(0); done < n; {
		b := buf[:min(int64(len(buf)), n-done)]
		if k, err := src.ReadAt(b, off+done); k < len(b) {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("unable to read new bytes at %d: %w", off+done, err)
		}
		if _, err := dst.WriteAt(b, off+done); err != nil {
			return fmt.Errorf("unable to write at %d: %w", off+done, err)
		}
		done += int64(len(b))
	}
	return nil
}
