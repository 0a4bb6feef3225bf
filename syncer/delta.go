package syncer

import (
	"context"
	"fmt"
	"io"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/tree"
)

// deltaMinBase is the smallest current version worth building a new one
// from: below it the read and the plan cost more than sending.
const deltaMinBase = 64 << 10

// DeltaCandidate reports whether t is worth a block delta: the new
// version is big enough for a chunk list and the destination holds a
// current version, a file, to take unchanged chunks from. Small files and
// new ones go whole.
func DeltaCandidate(t Transfer) bool {
	return t.Source.Kind == tree.File && t.Source.Size >= chunk.MinFileSize &&
		t.Expect.Kind == tree.File && t.Expect.Size >= deltaMinBase && t.Expect.Path == t.Source.Path
}

// SeedFrom fills w, the partial of a new version of a file on ep, with the
// chunks of next (the new version's list) that base, ep's current version
// as its scan saw it, holds, and returns the ranges it filled.
//
// When base is still as scanned and ep kept its chunk list (Endpoint.Chunks
// answers from the scan's list without reading), the chunks are copied
// straight from that list (chunk.SeedWith). Otherwise the file is read
// once, cut and every copied chunk hashed on the way (chunk.Seed), so a
// file edited since its scan is never trusted. Either way the caller's
// whole-file check at commit has the last word.
func SeedFrom(ctx context.Context, ep Endpoint, base tree.Entry, w io.WriterAt, next chunk.List) ([]chunk.Range, error) {
	if len(next.Chunks) == 0 || base.Kind != tree.File {
		return nil, nil
	}
	path := base.Path
	r, err := ep.OpenFile(ctx, path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if base.Hash != 0 && r.Size() == base.Size {
		if bl, err := ep.Chunks(ctx, path, base); err == nil && len(bl.Chunks) > 0 {
			held, err := chunk.SeedWith(w, ctxReader{ctx, r}, bl, next, nil)
			if err != nil {
				return nil, fmt.Errorf("unable to build %s from its current version: %w", path, err)
			}
			if len(held) > 0 {
				return held, nil
			}
		}
	}
	held, err := chunk.Seed(w, ctxReader{ctx, r}, r.Size(), next, nil)
	if err != nil {
		return nil, fmt.Errorf("unable to build %s from its current version: %w", path, err)
	}
	return held, nil
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
