package localfs

import (
	"context"
	"fmt"
	"io"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/tree"
)

// Chunks returns the chunk list of the file at p, which must still be
// what expect says (size, and content when expect.Hash is set): otherwise
// ErrChanged. A file under chunk.MinFileSize has no list (zero chunks).
func (f *FS) Chunks(ctx context.Context, p string, expect tree.Entry) (chunk.List, error) {
	r, err := f.OpenFile(ctx, p)
	if err != nil {
		return chunk.List{}, err
	}
	defer r.Close()
	return listOf(ctx, p, r, expect)
}

// listOf chunks r in one read, checking it against expect on the way.
func listOf(ctx context.Context, p string, r syncer.FileReader, expect tree.Entry) (chunk.List, error) {
	size := r.Size()
	if size != expect.Size {
		return chunk.List{}, fmt.Errorf("unable to list the chunks of %q: it is %d bytes now, %d when scanned: %w", p, size, expect.Size, syncer.ErrChanged)
	}
	h := xxhash.New()
	c, ok := chunk.New(size, h)
	if !ok {
		return chunk.List{Total: size}, nil
	}
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return chunk.List{}, err
		}
		n, err := r.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		c.Write(buf[:n])
		off += int64(n)
		if err != nil && (err != io.EOF || off < size) {
			return chunk.List{}, fmt.Errorf("unable to list the chunks of %q: %w", p, err)
		}
		if n == 0 {
			break
		}
	}
	l, err := c.List()
	if err != nil {
		return chunk.List{}, fmt.Errorf("unable to list the chunks of %q: %w: %w", p, err, syncer.ErrChanged)
	}
	if expect.Hash != 0 && h.Sum64() != expect.Hash {
		return chunk.List{}, fmt.Errorf("unable to list the chunks of %q: its content changed since the scan: %w", p, syncer.ErrChanged)
	}
	return l, nil
}
