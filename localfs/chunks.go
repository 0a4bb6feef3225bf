package localfs

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// Chunks returns the chunk list of the file at p, which must still be
// what expect says (size, and content when expect.Hash is set): otherwise
// ErrChanged. A file under chunk.MinFileSize has no list (zero chunks).
//
// With a ChunkStore, the list the scan computed when it hashed the file is
// the answer as long as the file's lstat is still the one it was computed
// for and its hash is expect's: an unchanged file is not read again. A list
// read here is kept for next time.
func (f *FS) Chunks(ctx context.Context, p string, expect tree.Entry) (chunk.List, error) {
	if f.chunks != nil && expect.Size >= chunk.MinFileSize {
		if l, ok := f.storedChunks(ctx, p, expect); ok {
			return l, nil
		}
	}
	r, err := f.openFile(p)
	if err != nil {
		return chunk.List{}, err
	}
	defer r.Close()
	before, err := r.Stat()
	if err != nil {
		return chunk.List{}, fmt.Errorf("unable to list the chunks of %q: %w", p, err)
	}
	l, sum, err := listOf(ctx, p, r, expect)
	if err != nil || f.chunks == nil || len(l.Chunks) == 0 {
		return l, err
	}
	// Kept only if nothing touched the file while it was read, under the
	// lstat it had before.
	if after, err := r.Stat(); err == nil && ctime(after) == ctime(before) {
		e := entryOf(p, before)
		if e.SameStat(entryOf(p, after)) {
			e.Hash = sum
			if err := f.chunks.SaveChunks(e, l); err != nil {
				f.log.Warn("unable to keep a chunk list", "path", p, "err", err)
			}
		}
	}
	return l, nil
}

// storedChunks returns the stored list of p if it was computed for the file
// as it is now (the same lstat) and with expect's content.
func (f *FS) storedChunks(ctx context.Context, p string, expect tree.Entry) (chunk.List, bool) {
	stored, l, ok, err := f.chunks.LoadChunks(p)
	if err != nil {
		f.log.Warn("unable to use the stored chunk list; reading the file", "path", p, "err", err)
		return chunk.List{}, false
	}
	if !ok || stored.Kind != tree.File || stored.Size != expect.Size || (expect.Hash != 0 && stored.Hash != expect.Hash) {
		return chunk.List{}, false
	}
	cur, err := f.Stat(ctx, p)
	if err != nil || !cur.SameStat(stored) {
		return chunk.List{}, false
	}
	return l, true
}

// listOf chunks r in one read, checking it against expect on the way, and
// returns the list with the content's xxhash (0 for a file too small for a
// list, which is not read).
func listOf(ctx context.Context, p string, r endpoint.FileReader, expect tree.Entry) (chunk.List, uint64, error) {
	size := r.Size()
	if size != expect.Size {
		return chunk.List{}, 0, fmt.Errorf("unable to list the chunks of %q: it is %d bytes now, %d when scanned: %w", p, size, expect.Size, endpoint.ErrChanged)
	}
	h := xxhash.New()
	c, ok := chunk.New(size, h)
	if !ok {
		return chunk.List{Total: size}, 0, nil
	}
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			return chunk.List{}, 0, err
		}
		n, err := r.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		c.Write(buf[:n])
		off += int64(n)
		if err != nil && (err != io.EOF || off < size) {
			return chunk.List{}, 0, fmt.Errorf("unable to list the chunks of %q: %w", p, err)
		}
		if n == 0 {
			break
		}
	}
	l, err := c.List()
	if err != nil {
		return chunk.List{}, 0, fmt.Errorf("unable to list the chunks of %q: %w: %w", p, err, endpoint.ErrChanged)
	}
	if expect.Hash != 0 && h.Sum64() != expect.Hash {
		return chunk.List{}, 0, fmt.Errorf("unable to list the chunks of %q: its content changed since the scan: %w", p, endpoint.ErrChanged)
	}
	return l, h.Sum64(), nil
}

// Digests returns each file's strong digest (endpoint.Endpoint): the zero
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

var (
	_ endpoint.ChunkFinder = (*FS)(nil)
	_ endpoint.ChunkKeeper = (*FS)(nil)
)

// StoredChunks returns the list the scan kept for the file at p, if the
// file is still as it was then and its hash is expect's, without reading
// the file (endpoint.ChunkKeeper).
func (f *FS) StoredChunks(ctx context.Context, p string, expect tree.Entry) (chunk.List, bool) {
	if f.chunks == nil || expect.Size < chunk.MinFileSize {
		return chunk.List{}, false
	}
	return f.storedChunks(ctx, p, expect)
}

// maxSeedSources bounds how many other files one SeedFromOthers reads.
const maxSeedSources = 64

// SeedFromOthers writes into w the chunks of next that lie outside filled
// and that other files of the folder hold, by the chunk lists their scans
// kept (endpoint.ChunkFinder). Each chunk is read from its file and hashed
// again before it is written, so a file changed since its list was kept
// costs that chunk, never a wrong byte. It returns the ranges it filled.
func (f *FS) SeedFromOthers(ctx context.Context, w io.WriterAt, next chunk.List, filled []chunk.Range) ([]chunk.Range, error) {
	if f.chunks == nil || len(next.Chunks) == 0 {
		return nil, nil
	}
	todo := make([]int, 0, len(next.Chunks))
	want := map[[chunk.SumSize]byte]bool{}
	k := 0
	for j, c := range next.Chunks {
		for k < len(filled) && filled[k].Off+filled[k].Len <= c.Off {
			k++
		}
		if k < len(filled) && filled[k].Off <= c.Off && c.End() <= filled[k].Off+filled[k].Len {
			continue
		}
		todo = append(todo, j)
		want[c.Sum] = true
	}
	if len(todo) == 0 {
		return nil, nil
	}
	type place struct {
		path string
		c    chunk.Chunk
	}
	where := map[[chunk.SumSize]byte]place{}
	files := map[string]bool{}
	err := f.chunks.FindChunks(want, func(e tree.Entry, c chunk.Chunk) bool {
		if _, ok := where[c.Sum]; ok || (!files[e.Path] && len(files) >= maxSeedSources) {
			return len(where) < len(want)
		}
		files[e.Path] = true
		where[c.Sum] = place{e.Path, c}
		return len(where) < len(want)
	})
	if err != nil || len(where) == 0 {
		return nil, err
	}
	open := map[string]endpoint.FileReader{}
	failed := map[string]bool{}
	defer func() {
		for _, r := range open {
			r.Close()
		}
	}()
	var out []chunk.Range
	buf := make([]byte, 0, 256<<10)
	for _, j := range todo {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		nc := next.Chunks[j]
		pl, ok := where[nc.Sum]
		if !ok || pl.c.Len != nc.Len {
			continue
		}
		r, ok := open[pl.path]
		if !ok {
			if failed[pl.path] {
				continue
			}
			var err error
			if r, err = f.OpenFile(ctx, pl.path); err != nil {
				failed[pl.path] = true
				continue
			}
			open[pl.path] = r
		}
		b := slices.Grow(buf[:0], int(nc.Len))[:nc.Len]
		if n, _ := r.ReadAt(b, pl.c.Off); int64(n) != nc.Len || sha256.Sum256(b) != nc.Sum {
			continue
		}
		if _, err := w.WriteAt(b, nc.Off); err != nil {
			return nil, fmt.Errorf("unable to write at %d: %w", nc.Off, err)
		}
		if n := len(out); n > 0 && out[n-1].Off+out[n-1].Len == nc.Off {
			out[n-1].Len += nc.Len
		} else {
			out = append(out, chunk.Range{Off: nc.Off, Len: nc.Len})
		}
	}
	return out, nil
}
