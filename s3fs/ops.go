package s3fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// Mkdir writes the directory's marker, which keeps it (and its mode) when
// it has no children.
func (f *FS) Mkdir(ctx context.Context, p string, mode fs.FileMode) error {
	if err := tree.ValidPath(p); err != nil {
		return err
	}
	if err := f.checkParent(ctx, p); err != nil {
		return err
	}
	cur, _, err := f.statOrAbsent(ctx, p)
	if err != nil {
		return err
	}
	switch cur.Kind {
	case tree.Dir:
		return nil
	case tree.Absent:
	default:
		return fmt.Errorf("unable to make directory %s: a %s is there: %w", p, cur.Kind, endpoint.ErrExists)
	}
	return f.putMarker(ctx, p, mode, time.Now().UnixNano())
}

func (f *FS) putMarker(ctx context.Context, p string, mode fs.FileMode, mtime int64) error {
	body := markerBody(mode, mtime)
	_, err := f.c.PutObject(ctx, f.bucket, f.key(p)+"/", bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{UserMetadata: metaFor(tree.Dir, mode, mtime, 0), DisableContentSha256: true})
	if err != nil {
		return fmt.Errorf("unable to make directory %s: %w", p, mapErr(err))
	}
	return nil
}

// Symlink writes a link object in place of expect.
func (f *FS) Symlink(ctx context.Context, p, target string, expect tree.Entry) error {
	if err := tree.ValidPath(p); err != nil {
		return err
	}
	if err := f.checkParent(ctx, p); err != nil {
		return err
	}
	cur, etag, err := f.statOrAbsent(ctx, p)
	if err != nil {
		return err
	}
	if !matches(cur, expect) {
		return fmt.Errorf("unable to make symlink %s: it changed since the scan: %w", p, endpoint.ErrChanged)
	}
	if cur.Kind == tree.Dir {
		if err := f.removeDir(ctx, p); err != nil {
			return err
		}
		etag = ""
	}
	body := []byte(target)
	_, err = f.c.PutObject(ctx, f.bucket, f.key(p), bytes.NewReader(body), int64(len(body)),
		putOpts(metaFor(tree.Symlink, 0o777, time.Now().UnixNano(), 0), etag))
	if err != nil {
		return fmt.Errorf("unable to make symlink %s: %w", p, mapErr(err))
	}
	return nil
}

// Remove deletes an object or an empty directory's marker after checking
// it against expect: a re-stat, then the delete (see the package caveats).
func (f *FS) Remove(ctx context.Context, p string, expect tree.Entry) error {
	if err := tree.ValidPath(p); err != nil {
		return err
	}
	cur, etag, err := f.stat(ctx, p)
	if err != nil {
		return err
	}
	if !cur.SameStat(expect) {
		return fmt.Errorf("unable to remove %s: it changed since the scan: %w", p, endpoint.ErrChanged)
	}
	if cur.Kind == tree.Dir {
		return f.removeDir(ctx, p)
	}
	if f.beforeWrite != nil {
		f.beforeWrite(p)
	}
	if err := f.removeIfMatch(ctx, f.key(p), etag); err != nil {
		return fmt.Errorf("unable to remove %s: %w", p, err)
	}
	return nil
}

// removeIfMatch deletes key if it is still etag: a DELETE with If-Match,
// which minio-go's RemoveObject cannot send, so it goes presigned. A
// store that ignores If-Match on deletes (AWS honours it, SeaweedFS too)
// leaves the caller's re-stat as the only check.
func (f *FS) removeIfMatch(ctx context.Context, key, etag string) error {
	h := http.Header{"If-Match": {`"` + etag + `"`}}
	u, err := f.c.PresignHeader(ctx, http.MethodDelete, f.bucket, key, 5*time.Minute, nil, h)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header = h
	resp, err := f.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	switch resp.StatusCode {
	case http.StatusOK, http.StatusNoContent:
		return nil
	case http.StatusPreconditionFailed:
		return fmt.Errorf("the object changed: %w", endpoint.ErrChanged)
	case http.StatusNotFound:
		return fs.ErrNotExist
	}
	return fmt.Errorf("delete %s: %s", key, resp.Status)
}

func (f *FS) removeDir(ctx context.Context, p string) error {
	marker := f.key(p) + "/"
	has, err := f.hasChildren(ctx, p, marker)
	if err != nil {
		return err
	}
	if has {
		return fmt.Errorf("unable to remove directory %s: %w", p, endpoint.ErrNotEmpty)
	}
	if err := f.c.RemoveObject(ctx, f.bucket, marker, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("unable to remove directory %s: %w", p, mapErr(err))
	}
	return nil
}

// Rename is a server-side copy, conditional on the destination being
// absent, then a delete of the source. A directory is renamed object by
// object.
func (f *FS) Rename(ctx context.Context, from, to string, expect tree.Entry) error {
	if err := tree.ValidPath(from); err != nil {
		return err
	}
	if err := tree.ValidPath(to); err != nil {
		return err
	}
	cur, etag, err := f.stat(ctx, from)
	if err != nil {
		return err
	}
	if !cur.SameStat(expect) {
		return fmt.Errorf("unable to rename %s: it changed since the scan: %w", from, endpoint.ErrChanged)
	}
	dst, _, err := f.statOrAbsent(ctx, to)
	if err != nil {
		return err
	}
	if dst.Exists() {
		return fmt.Errorf("unable to rename %s to %s: %w", from, to, endpoint.ErrExists)
	}
	if err := f.checkParent(ctx, to); err != nil {
		return err
	}
	if cur.Kind != tree.Dir {
		if f.beforeWrite != nil {
			f.beforeWrite(to)
		}
		if err := f.copyObject(ctx, f.key(from), etag, cur.Size, f.key(to), "", nil); err != nil {
			// A 412 is the source changed, or the destination taken
			// since the check: which, a re-stat says.
			if errors.Is(err, endpoint.ErrChanged) {
				if dst, _, serr := f.statOrAbsent(ctx, to); serr == nil && dst.Exists() {
					err = endpoint.ErrExists
				}
			}
			return fmt.Errorf("unable to rename %s to %s: %w", from, to, err)
		}
		if f.beforeWrite != nil {
			f.beforeWrite(from)
		}
		if err := f.removeIfMatch(ctx, f.key(from), etag); err != nil {
			// The source changed after the copy: take the copy back, so
			// the rename did nothing.
			f.c.RemoveObject(context.WithoutCancel(ctx), f.bucket, f.key(to), minio.RemoveObjectOptions{})
			return fmt.Errorf("unable to remove %s after copying it to %s: %w", from, to, err)
		}
		return nil
	}
	src := f.key(from) + "/"
	for o := range f.c.ListObjects(ctx, f.bucket, minio.ListObjectsOptions{Prefix: src, Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("unable to list %s: %w", from, mapErr(o.Err))
		}
		dk := f.key(to) + "/" + strings.TrimPrefix(o.Key, src)
		if err := f.copyObject(ctx, o.Key, strings.Trim(o.ETag, `"`), o.Size, dk, "", nil); err != nil {
			return fmt.Errorf("unable to rename %s to %s: %w", from, to, err)
		}
		if err := f.c.RemoveObject(ctx, f.bucket, o.Key, minio.RemoveObjectOptions{}); err != nil {
			return fmt.Errorf("unable to remove %s after copying it: %w", o.Key, mapErr(err))
		}
	}
	return nil
}

// copyLimit is the largest object one CopyObject may copy; bigger ones go
// as a multipart upload of UploadPartCopy parts.
const copyLimit = 5 << 30

// copyObject copies src (as long as it is srcETag) to dst on the server,
// conditional on dst being dstETag ("" = absent), with meta replacing the
// source's metadata when not nil.
func (f *FS) copyObject(ctx context.Context, src, srcETag string, size int64, dst, dstETag string, meta map[string]string) error {
	if size <= copyLimit {
		// Core.CopyObject sends the metadata map as headers, and nothing
		// of srcOpts' or dstOpts' conditions: they go in the map.
		h := map[string]string{"x-amz-copy-source-if-match": `"` + srcETag + `"`}
		if dstETag == "" {
			h["If-None-Match"] = "*"
		} else {
			h["If-Match"] = `"` + dstETag + `"`
		}
		if meta != nil {
			for k, v := range meta {
				h["x-amz-meta-"+k] = v
			}
			h["x-amz-metadata-directive"] = "REPLACE"
		}
		if _, err := f.core.CopyObject(ctx, f.bucket, src, f.bucket, dst, h, minio.CopySrcOptions{}, minio.PutObjectOptions{}); err != nil {
			return mapErr(err)
		}
		return nil
	}
	if meta == nil {
		o, err := f.head(ctx, src)
		if err != nil {
			return err
		}
		meta = o.meta
	}
	id, err := f.core.NewMultipartUpload(ctx, f.bucket, dst, minio.PutObjectOptions{UserMetadata: meta})
	if err != nil {
		return mapErr(err)
	}
	var parts []minio.CompletePart
	const ps = 1 << 30
	for n, off := 1, int64(0); off < size; n, off = n+1, off+ps {
		cp, err := f.core.CopyObjectPart(ctx, f.bucket, src, f.bucket, dst, id, n, off, min(ps, size-off),
			map[string]string{"x-amz-copy-source-if-match": srcETag})
		if err != nil {
			f.core.AbortMultipartUpload(context.WithoutCancel(ctx), f.bucket, dst, id)
			return mapErr(err)
		}
		parts = append(parts, cp)
	}
	if _, err := f.core.CompleteMultipartUpload(ctx, f.bucket, dst, id, parts, putOpts(nil, dstETag)); err != nil {
		f.core.AbortMultipartUpload(context.WithoutCancel(ctx), f.bucket, dst, id)
		return mapErr(err)
	}
	return nil
}

// SetMeta rewrites an object's metadata in place (a server-side copy onto
// itself, conditional on its ETag), or a directory's marker.
func (f *FS) SetMeta(ctx context.Context, p string, mode fs.FileMode, mtime int64) error {
	if err := tree.ValidPath(p); err != nil {
		return err
	}
	cur, etag, err := f.stat(ctx, p)
	if err != nil {
		return err
	}
	if cur.Kind == tree.Dir {
		return f.putMarker(ctx, p, mode, mtime)
	}
	if err := f.copyObject(ctx, f.key(p), etag, cur.Size, f.key(p), etag, metaFor(cur.Kind, mode, mtime, cur.Hash)); err != nil {
		return fmt.Errorf("unable to set mode and mtime of %s: %w", p, err)
	}
	return nil
}

// OpenFile opens an object for reading at offsets; every read is
// conditional on the ETag seen when it was opened.
func (f *FS) OpenFile(ctx context.Context, p string) (endpoint.FileReader, error) {
	if err := tree.ValidPath(p); err != nil {
		return nil, err
	}
	o, err := f.head(ctx, f.key(p))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if e, _, serr := f.stat(ctx, p); serr == nil {
				return nil, fmt.Errorf("unable to open %s: it is a %s, not a file", p, e.Kind)
			}
		}
		return nil, fmt.Errorf("unable to open %s: %w", p, err)
	}
	if e := entryOf(p, o); e.Kind != tree.File {
		return nil, fmt.Errorf("unable to open %s: it is a %s, not a file", p, e.Kind)
	}
	r := &reader{f: f, ctx: ctx, key: f.key(p), etag: o.etag, size: o.size}
	// A whole sequential read (a delta's seed reads the current version
	// so) leaves the object's chunk list in the cache, for ChunkKeeper and
	// for a writer's server-side copies, at no extra read.
	if c, ok := chunk.New(o.size, nil); ok {
		cp := f.cachePath("chunks", &listed{key: r.key, etag: o.etag, size: o.size, lastMod: o.lastMod})
		if _, err := os.Stat(cp); err != nil {
			r.tee, r.teePath = c, cp
		}
	}
	return r, nil
}

// readAhead is the least a reader fetches at once: callers read in small
// pieces, and a request per piece would be slow.
const readAhead = 4 << 20

type reader struct {
	f    *FS
	ctx  context.Context
	key  string
	etag string
	size int64

	mu      sync.Mutex
	bufOff  int64
	buf     []byte
	tee     *chunk.Chunker // nil once reads leave the sequence
	teePath string
	teed    int64
}

// feed passes what a fetch brought past the bytes already chunked to the
// tee; a fetch that skips ahead ends it.
func (r *reader) feed() {
	if r.tee == nil {
		return
	}
	if r.bufOff > r.teed || r.bufOff+int64(len(r.buf)) <= r.teed {
		if r.bufOff > r.teed {
			r.tee = nil
		}
		return
	}
	r.tee.Write(r.buf[r.teed-r.bufOff:])
	r.teed = r.bufOff + int64(len(r.buf))
	if r.teed == r.size {
		if l, err := r.tee.List(); err == nil {
			r.f.storeBytes(r.teePath, l.Append(nil))
		}
		r.tee = nil
	}
}

func (r *reader) Size() int64  { return r.size }
func (r *reader) Close() error { return nil }

func (r *reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), r.size-off)
	r.mu.Lock()
	defer r.mu.Unlock()
	if off < r.bufOff || off+want > r.bufOff+int64(len(r.buf)) {
		n := min(max(want, readAhead), r.size-off)
		b, err := r.f.getRange(r.ctx, r.key, r.etag, off, n)
		if err != nil {
			return 0, err
		}
		r.bufOff, r.buf = off, b
		r.feed()
	}
	n := copy(p, r.buf[off-r.bufOff:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// getRange reads n bytes at off of key, as long as it is etag.
func (f *FS) getRange(ctx context.Context, key, etag string, off, n int64) ([]byte, error) {
	opts := minio.GetObjectOptions{}
	if etag != "" {
		opts.SetMatchETag(etag)
	}
	if err := opts.SetRange(off, off+n-1); err != nil {
		return nil, err
	}
	rc, _, _, err := f.core.GetObject(ctx, f.bucket, key, opts)
	if err != nil {
		return nil, fmt.Errorf("unable to read %s: %w", key, mapErr(err))
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("unable to read %s: %w", key, mapErr(err))
	}
	return b, nil
}

// CopyFile copies from to meta.Path on the server, checking the source's
// hash (from its metadata, or hashed once and cached) against meta.Hash.
func (f *FS) CopyFile(ctx context.Context, from string, fromExpect, meta, expect tree.Entry) error {
	if err := tree.ValidPath(from); err != nil {
		return err
	}
	if err := tree.ValidPath(meta.Path); err != nil {
		return err
	}
	src, setag, err := f.stat(ctx, from)
	if err != nil {
		return err
	}
	if src.Kind != tree.File {
		return fmt.Errorf("unable to copy %s: it is a %s, not a file", from, src.Kind)
	}
	if !src.SameStat(fromExpect) {
		return fmt.Errorf("unable to copy %s: it changed since the scan: %w", from, endpoint.ErrChanged)
	}
	h, err := f.hashOf(ctx, from, src, setag)
	if err != nil {
		return err
	}
	if h != meta.Hash || src.Size != meta.Size {
		return fmt.Errorf("unable to copy %s to %s: its content is not what was expected: %w", from, meta.Path, endpoint.ErrHashMismatch)
	}
	if err := f.checkParent(ctx, meta.Path); err != nil {
		return err
	}
	cur, detag, err := f.statOrAbsent(ctx, meta.Path)
	if err != nil {
		return err
	}
	if !matches(cur, expect) {
		return fmt.Errorf("unable to copy to %s: it changed since the scan: %w", meta.Path, endpoint.ErrChanged)
	}
	if cur.Kind == tree.Dir {
		return fmt.Errorf("unable to copy to %s: a directory is there: %w", meta.Path, endpoint.ErrChanged)
	}
	err = f.copyObject(ctx, f.key(from), setag, src.Size, f.key(meta.Path), detag, metaFor(tree.File, meta.Mode, meta.Mtime, meta.Hash))
	if err != nil {
		return fmt.Errorf("unable to copy %s to %s: %w", from, meta.Path, err)
	}
	return nil
}
