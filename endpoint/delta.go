package endpoint

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/tree"
)

// DeltaMinBase is the smallest current version worth building a new one
// from: below it the read and the plan cost more than sending.
const DeltaMinBase = 64 << 10

// DeltaCandidate reports whether t is worth a block delta from the file
// at its path: the new version is big enough for a chunk list and the
// destination holds a current version, a file, to take unchanged chunks
// from. Small files go whole.
func DeltaCandidate(t Transfer) bool {
	return t.Source.Kind == tree.File && t.Source.Size >= chunk.MinFileSize &&
		t.Expect.Kind == tree.File && t.Expect.Size >= DeltaMinBase && t.Expect.Path == t.Source.Path
}

// ReuseCandidate reports whether t's receiver should be given its chunk
// list: a delta candidate, or a new file big enough for a list, which the
// receiver may build from chunks other files of its hold (ChunkFinder).
// It is for transfers whose list is at hand (the sender's own scan kept
// it); a list that costs a round trip is asked for delta candidates only.
func ReuseCandidate(t Transfer) bool {
	return DeltaCandidate(t) || (t.Source.Kind == tree.File && t.Source.Size >= chunk.MinFileSize && !t.Expect.Exists())
}

// SeedFrom fills w, the partial of a new version of a file on ep, with the
// chunks of next (the new version's list) that base, ep's current version
// as its scan saw it (Kind Absent for a new file), holds, and, where that
// leaves much to send, with those other files of ep hold (ChunkFinder). It
// returns the ranges it filled, in order.
//
// When base is still as scanned and ep kept its chunk list (ChunkKeeper),
// the chunks are copied straight from that list (chunk.SeedWith). Otherwise the file is read
// once, cut and every copied chunk hashed on the way (chunk.Seed), so a
// file edited since its scan is never trusted. Either way the caller's
// whole-file check at commit has the last word.
func SeedFrom(ctx context.Context, ep Endpoint, base tree.Entry, w io.WriterAt, next chunk.List) ([]chunk.Range, error) {
	if len(next.Chunks) == 0 {
		return nil, nil
	}
	var held []chunk.Range
	if base.Kind == tree.File {
		var err error
		if held, err = seedFromBase(ctx, ep, base, w, next); err != nil {
			return nil, err
		}
	}
	// Other files are looked through only when the current version left
	// much to send: an edit's few new chunks are rarely anywhere else.
	if cf, ok := ep.(ChunkFinder); ok && chunk.Bytes(held) < next.Total/2 {
		more, err := cf.SeedFromOthers(ctx, w, next, held)
		if err != nil {
			return held, nil
		}
		held = mergeRanges(held, more)
	}
	return held, nil
}

func seedFromBase(ctx context.Context, ep Endpoint, base tree.Entry, w io.WriterAt, next chunk.List) ([]chunk.Range, error) {
	path := base.Path
	r, err := ep.OpenFile(ctx, path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	// A list kept by ep's scan, for the file as it is now and cut as next
	// is, spares reading and hashing it: its shared chunks are copied as
	// they are. Without one, the file is read once (chunk.Seed): asking
	// Chunks would read it to make a list, then again to copy.
	if k, ok := ep.(ChunkKeeper); ok && base.Hash != 0 && r.Size() == base.Size {
		if bl, ok := k.StoredChunks(ctx, path, base); ok && sameChunking(bl, next) {
			held, err := chunk.SeedWith(w, ctxReader{ctx, r}, bl, next, nil)
			if err != nil {
				return nil, fmt.Errorf("unable to build %s from its current version: %w", path, err)
			}
			return held, nil
		}
	}
	held, err := chunk.Seed(w, ctxReader{ctx, r}, r.Size(), next, nil)
	if err != nil {
		return nil, fmt.Errorf("unable to build %s from its current version: %w", path, err)
	}
	return held, nil
}

// sameChunking reports whether two lists were cut with one chunking, so
// that shared content shares chunk boundaries.
func sameChunking(a, b chunk.List) bool {
	pa, oka := a.Params()
	pb, okb := b.Params()
	return oka && okb && pa == pb
}

// mergeRanges merges two lists of ordered, disjoint ranges into one.
func mergeRanges(a, b []chunk.Range) []chunk.Range {
	all := append(append([]chunk.Range(nil), a...), b...)
	slices.SortFunc(all, func(x, y chunk.Range) int { return cmp.Compare(x.Off, y.Off) })
	var out []chunk.Range
	for _, r := range all {
		if n := len(out); n > 0 && out[n-1].Off+out[n-1].Len >= r.Off {
			out[n-1].Len = max(out[n-1].Off+out[n-1].Len, r.Off+r.Len) - out[n-1].Off
			continue
		}
		out = append(out, r)
	}
	return out
}

// ChunkFinder is implemented by endpoints that keep the chunk lists of
// their files (localfs with a chunk store). SeedFromOthers writes into w
// the chunks of next outside filled that other files it holds contain,
// each read and hashed again before it is written, and returns the ranges
// it filled: a new file, or a new version, that shares chunks with any
// file the receiver holds is then sent only what is missing.
type ChunkFinder interface {
	SeedFromOthers(ctx context.Context, w io.WriterAt, next chunk.List, filled []chunk.Range) ([]chunk.Range, error)
}

// ChunkKeeper is implemented by endpoints that keep the chunk lists their
// scans computed (localfs with a chunk store): StoredChunks returns the
// kept list of a file still as expect says, without reading the file, and
// false when there is none.
type ChunkKeeper interface {
	StoredChunks(ctx context.Context, path string, expect tree.Entry) (chunk.List, bool)
}

// ListFor returns the chunk list of t's source on src for its receiver, and
// false when it should go without one: a delta candidate's list is read if
// it must be (its receiver holds a version to build from), a new file's
// only if src kept it (the receiver may hold its chunks in other files,
// which is worth no extra read of the file).
func ListFor(ctx context.Context, src Endpoint, t Transfer) (chunk.List, bool) {
	var l chunk.List
	switch {
	case DeltaCandidate(t):
		var err error
		if l, err = src.Chunks(ctx, t.Source.Path, t.Source); err != nil {
			return chunk.List{}, false
		}
	case ReuseCandidate(t):
		k, ok := src.(ChunkKeeper)
		if !ok {
			return chunk.List{}, false
		}
		if l, ok = k.StoredChunks(ctx, t.Source.Path, t.Source); !ok {
			return chunk.List{}, false
		}
	default:
		return chunk.List{}, false
	}
	return l, len(l.Chunks) > 0 && l.Total == t.Source.Size
}

// ctxReader stops a long read of a base file when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.ReaderAt
}

func (c ctxReader) ReadAt(p []byte, off int64) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.ReadAt(p, off)
}
