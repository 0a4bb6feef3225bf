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

// Digests returns each file's strong digest (syncer.Endpoint): the zero
// Digest for a file that is not as its entry says.
func (f *FS) Digests(ctx context.Context, files []tree.Entry) ([]chunk.Digest, error) {
	out := make([]chunk.Digest, len(files))
	for i, e := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if e.Kind != tree.File {
			continue
		}
		if e.Size >= chunk.MinFileSize {
			if l, err := f.Chunks(ctx, e.Path, e); err == nil && len(l.Chunks) > 0 {
				out[i] = chunk.ListDigest(l)
			}
			continue
		}
		out[i] = f.smallDigest(ctx, e)
	}
	return out, nil
}

func (f *FS) smallDigest(ctx context.Context, e tree.Entry) chunk.Digest {
	r, err := f.OpenFile(ctx, e.Path)
	if err != nil {
		return chunk.Digest{}
	}
	defer r.Close()
	if r.Size() != e.Size {
		return chunk.Digest{}
	}
	b := make([]byte, e.Size)
	if n, _ := r.ReadAt(b, 0); int64(n) != e.Size {
		return chunk.Digest{}
	}
	if e.Hash != 0 && xxhash.Sum64(b) != e.Hash {
		return chunk.Digest{}
	}
	return chunk.SmallDigest(b)
}
