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

// SeedFrom fills w, the partial of a new version of path on ep, with the
// chunks of next (the new version's list) that the file now at path on ep
// holds, and returns the ranges it filled (chunk.Seed). The current file
// is read, never trusted: every copied chunk is hashed again.
func SeedFrom(ctx context.Context, ep Endpoint, path string, w io.WriterAt, next chunk.List) ([]chunk.Range, error) {
	if len(next.Chunks) == 0 {
		return nil, nil
	}
	base, err := ep.OpenFile(ctx, path)
	if err != nil {
		return nil, err
	}
	defer base.Close()
	held, err := chunk.Seed(w, ctxReader{ctx, base}, base.Size(), next, nil)
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
