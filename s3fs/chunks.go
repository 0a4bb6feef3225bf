package s3fs

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/minio/minio-go/v7"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// checkedFile stats p and checks it against expect: a file of the same
// size and, when expect.Hash is set, the same hash.
func (f *FS) checkedFile(ctx context.Context, p string, expect tree.Entry) (tree.Entry, object, error) {
	if err := tree.ValidPath(p); err != nil {
		return tree.Entry{}, object{}, err
	}
	o, err := f.head(ctx, f.key(p))
	if err != nil {
		return tree.Entry{}, object{}, fmt.Errorf("unable to read %s: %w", p, err)
	}
	e := entryOf(p, o)
	if e.Kind != tree.File || e.Size != expect.Size {
		return tree.Entry{}, object{}, fmt.Errorf("unable to read %s: it changed since the scan: %w", p, endpoint.ErrChanged)
	}
	if expect.Hash != 0 {
		h, err := f.hashOf(ctx, p, e, o.etag)
		if err != nil {
			return tree.Entry{}, object{}, err
		}
		if h != expect.Hash {
			return tree.Entry{}, object{}, fmt.Errorf("unable to read %s: it changed since the scan: %w", p, endpoint.ErrChanged)
		}
	}
	return e, o, nil
}

// Chunks returns the chunk list of p, read once per object version and
// kept in CacheDir by ETag.
func (f *FS) Chunks(ctx context.Context, p string, expect tree.Entry) (chunk.List, error) {
	_, o, err := f.checkedFile(ctx, p, expect)
	if err != nil {
		return chunk.List{}, err
	}
	return f.chunksOf(ctx, f.key(p), o)
}

func (f *FS) chunksOf(ctx context.Context, key string, o object) (chunk.List, error) {
	if o.size < chunk.MinFileSize {
		return chunk.List{Total: o.size}, nil
	}
	cp := f.cachePath("chunks", &listed{key: key, etag: o.etag, size: o.size, lastMod: o.lastMod})
	if b, err := os.ReadFile(cp); err == nil {
		if l, _, err := chunk.ParseList(b); err == nil && l.Total == o.size {
			return l, nil
		}
	}
	c, _ := chunk.New(o.size, nil)
	opts := minio.GetObjectOptions{}
	opts.SetMatchETag(o.etag)
	rc, _, _, err := f.core.GetObject(ctx, f.bucket, key, opts)
	if err != nil {
		return chunk.List{}, fmt.Errorf("unable to read %s: %w", key, mapErr(err))
	}
	defer rc.Close()
	if _, err := io.Copy(c, rc); err != nil {
		return chunk.List{}, fmt.Errorf("unable to read %s: %w", key, mapErr(err))
	}
	l, err := c.List()
	if err != nil {
		return chunk.List{}, err
	}
	f.storeBytes(cp, l.Append(nil))
	return l, nil
}

// StoredChunks returns the cached chunk list of p when it is still as
// expect says, without reading it.
func (f *FS) StoredChunks(ctx context.Context, p string, expect tree.Entry) (chunk.List, bool) {
	if expect.Size < chunk.MinFileSize {
		return chunk.List{}, false
	}
	_, o, err := f.checkedFile(ctx, p, expect)
	if err != nil {
		return chunk.List{}, false
	}
	b, err := os.ReadFile(f.cachePath("chunks", &listed{key: f.key(p), etag: o.etag, size: o.size, lastMod: o.lastMod}))
	if err != nil {
		return chunk.List{}, false
	}
	l, _, err := chunk.ParseList(b)
	if err != nil || l.Total != o.size {
		return chunk.List{}, false
	}
	return l, true
}

// Digests gives each file's strong digest: SHA-256 of a small file's
// bytes, the digest of a big one's chunk list.
func (f *FS) Digests(ctx context.Context, files []tree.Entry) ([]chunk.Digest, error) {
	out := make([]chunk.Digest, len(files))
	for i, e := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if e.Kind != tree.File {
			continue
		}
		_, o, err := f.checkedFile(ctx, e.Path, e)
		if err != nil {
			continue
		}
		if o.size < chunk.MinFileSize {
			b, err := f.readAll(ctx, f.key(e.Path), o.etag, o.size)
			if err != nil || int64(len(b)) != o.size {
				continue
			}
			out[i] = chunk.SmallDigest(b)
			continue
		}
		l, err := f.chunksOf(ctx, f.key(e.Path), o)
		if err != nil {
			continue
		}
		out[i] = chunk.ListDigest(l)
	}
	return out, nil
}
