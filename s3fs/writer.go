package s3fs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/minio/minio-go/v7"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// A file being received is spooled to CacheDir. A file of partMin bytes
// or more also streams into a multipart upload: each part (partMin or
// more) is uploaded as soon as every byte before its end has arrived, and
// a small record beside the upload (the sidecar, a .ferry-tmp.* object
// that scans skip) names the upload and holds the xxhash state after its
// last part. Any node resumes from those parts: ListParts confirms them,
// the sidecar's state continues the hash, and only the rest is sent. The
// object appears at Commit, by a conditional CompleteMultipartUpload
// (small files: a conditional PutObject), so readers see the old version
// or the new one, never a torn one.

var (
	_ endpoint.FileWriter   = (*writer)(nil)
	_ endpoint.Checkpointer = (*writer)(nil)
	_ io.ReaderAt           = (*writer)(nil)
)

// spoolState is kept beside a spool file: what it holds, for a resume on
// this node.
type spoolState struct {
	Size       int64
	Hash       uint64
	Ranges     [][2]int64
	Checkpoint []byte
}

// sidecar is the record of a multipart upload in the bucket.
type sidecar struct {
	Key        string
	Size       int64
	Hash       uint64
	PartSize   int64
	UploadID   string
	Parts      []sidecarPart
	State      []byte // xxhash state after the parts
	Checkpoint []byte
}

type sidecarPart struct {
	N    int
	ETag string
}

type writer struct {
	f      *FS
	ctx    context.Context
	meta   tree.Entry
	expect tree.Entry
	key    string
	name   string // spool and sidecar name: a digest of the key
	ps     int64  // part size; 0 for a file sent in one PutObject

	spool   *os.File
	written [][2]int64 // ordered, merged ranges held in the spool
	ckpt    []byte

	uploadID string
	parts    []minio.CompletePart
	prefix   int64          // bytes in uploaded parts
	digest   *xxhash.Digest // over the uploaded prefix
	existing int64
	done     bool
	delta    *deltaBase // nil: every part goes as bytes
}

// CreateFile starts receiving meta.Path, resuming what this node's spool
// or an upload in the bucket holds of the same content (size and hash).
func (f *FS) CreateFile(ctx context.Context, meta tree.Entry, expect tree.Entry) (endpoint.FileWriter, error) {
	if err := tree.ValidPath(meta.Path); err != nil {
		return nil, err
	}
	if meta.Size > maxObject || meta.Size < 0 {
		return nil, fmt.Errorf("unable to receive %s: %d bytes is more than an S3 object holds: %w", meta.Path, meta.Size, endpoint.ErrNoSpace)
	}
	if err := f.checkParent(ctx, meta.Path); err != nil {
		return nil, err
	}
	// Named by the content too: two writers of one path with different
	// content (two agents through one node) never share a spool or an
	// upload.
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d\x00%x", f.bucket, f.key(meta.Path), meta.Size, meta.Hash))
	w := &writer{f: f, ctx: ctx, meta: meta, expect: expect, key: f.key(meta.Path), name: hex.EncodeToString(sum[:16]),
		digest: xxhash.New()}
	if meta.Size >= f.partMin {
		w.ps = max(f.partMin, (meta.Size/10000+1+(1<<20)-1)&^((1<<20)-1))
	}
	if err := w.openSpool(); err != nil {
		return nil, err
	}
	if w.ps > 0 {
		w.resumeUpload()
	}
	w.delta = w.newDelta(expect)
	w.existing = w.heldPrefix()
	return w, nil
}

func (w *writer) spoolPath() string { return filepath.Join(w.f.cache, "spool", w.name) }

func (w *writer) sidecarKey() string { return w.f.prefix + ".ferry-tmp.up." + w.name }

// openSpool opens the spool, keeping what it holds when its state says it
// is of the same content.
func (w *writer) openSpool() error {
	var st spoolState
	if b, err := os.ReadFile(w.spoolPath() + ".json"); err == nil && json.Unmarshal(b, &st) == nil &&
		st.Size == w.meta.Size && st.Hash == w.meta.Hash {
		w.written, w.ckpt = st.Ranges, st.Checkpoint
	} else {
		os.Remove(w.spoolPath())
	}
	os.Remove(w.spoolPath() + ".json")
	sp, err := os.OpenFile(w.spoolPath(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("unable to spool %s: %w", w.meta.Path, err)
	}
	w.spool = sp
	return nil
}

// resumeUpload takes up the upload the sidecar names when it is of the
// same content and ListParts confirms its parts; otherwise the next part
// starts a new upload.
func (w *writer) resumeUpload() {
	b, err := w.f.readAll(w.ctx, w.sidecarKey(), "", 1<<24)
	if err != nil {
		return
	}
	var sc sidecar
	if json.Unmarshal(b, &sc) != nil || sc.Key != w.key || sc.Size != w.meta.Size || sc.Hash != w.meta.Hash || sc.PartSize != w.ps {
		return
	}
	have := map[int]string{}
	for marker := 0; ; {
		res, err := w.f.core.ListObjectParts(w.ctx, w.f.bucket, w.key, sc.UploadID, marker, 1000)
		if err != nil {
			return
		}
		for _, p := range res.ObjectParts {
			have[p.PartNumber] = strings.Trim(p.ETag, `"`)
		}
		if !res.IsTruncated {
			break
		}
		marker = res.NextPartNumberMarker
	}
	d := xxhash.New()
	if d.UnmarshalBinary(sc.State) != nil {
		return
	}
	var parts []minio.CompletePart
	for i, p := range sc.Parts {
		if p.N != i+1 || have[p.N] != p.ETag {
			return
		}
		parts = append(parts, minio.CompletePart{PartNumber: p.N, ETag: p.ETag})
	}
	w.uploadID, w.parts, w.prefix, w.digest = sc.UploadID, parts, min(int64(len(parts))*w.ps, w.meta.Size), d
	if len(w.ckpt) == 0 {
		w.ckpt = sc.Checkpoint
	}
}

// heldPrefix is how many bytes from 0 are held, in parts or the spool.
func (w *writer) heldPrefix() int64 {
	end := w.prefix
	for _, r := range w.written {
		if r[0] > end {
			break
		}
		end = max(end, r[1])
	}
	return end
}

func (w *writer) ExistingSize() int64 { return w.existing }

func (w *writer) SaveCheckpoint(data []byte) error {
	w.ckpt = slices.Clone(data)
	return nil
}

func (w *writer) LoadCheckpoint() ([]byte, error) { return w.ckpt, nil }

// ReadAt reads what the spool holds; bytes already in parts another node
// uploaded are not held here.
func (w *writer) ReadAt(p []byte, off int64) (int, error) {
	if !covered(w.written, off, off+int64(len(p))) {
		return 0, fmt.Errorf("unable to read %s at %d: not held on this node", w.meta.Path, off)
	}
	return w.spool.ReadAt(p, off)
}

func covered(rs [][2]int64, lo, hi int64) bool {
	for _, r := range rs {
		if r[0] <= lo && hi <= r[1] {
			return true
		}
	}
	return lo >= hi
}

func addRange(rs [][2]int64, lo, hi int64) [][2]int64 {
	rs = append(rs, [2]int64{lo, hi})
	slices.SortFunc(rs, func(a, b [2]int64) int { return int(min(max(a[0]-b[0], -1), 1)) })
	out := rs[:1]
	for _, r := range rs[1:] {
		if last := &out[len(out)-1]; r[0] <= last[1] {
			last[1] = max(last[1], r[1])
			continue
		}
		out = append(out, r)
	}
	return out
}

// WriteAt spools p and uploads every part it completes. Bytes inside parts
// already uploaded are of the same content (the upload is keyed by size
// and hash, and Commit checks the hash): they are dropped.
func (w *writer) WriteAt(p []byte, off int64) (int, error) {
	n := len(p)
	if off < 0 || off+int64(n) > w.meta.Size {
		return 0, fmt.Errorf("unable to write %s: %d bytes at %d are past its size %d", w.meta.Path, n, off, w.meta.Size)
	}
	if off < w.prefix {
		skip := min(w.prefix-off, int64(n))
		p, off = p[skip:], off+skip
	}
	if len(p) == 0 {
		return n, nil
	}
	if _, err := w.spool.WriteAt(p, off); err != nil {
		return 0, fmt.Errorf("unable to spool %s: %w", w.meta.Path, err)
	}
	w.written = addRange(w.written, off, off+int64(len(p)))
	if w.ps > 0 {
		if err := w.pump(false); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// pump uploads the parts the spool now holds from the end of the uploaded
// prefix on; the last part waits for Commit (final), which uploads it.
func (w *writer) pump(final bool) error {
	for {
		end := min(w.prefix+w.ps, w.meta.Size)
		if end == w.prefix || !covered(w.written, w.prefix, end) || (end == w.meta.Size && !final) {
			return nil
		}
		src := int64(-1)
		if w.delta != nil {
			var ready bool
			var err error
			if src, ready, err = w.delta.source(w, w.prefix, end); err != nil {
				w.f.log.Warn("unable to match a part with the current version; uploading it", "path", w.meta.Path, "err", err)
				w.delta, src = nil, -1
			} else if !ready && !final {
				return nil
			}
		}
		if err := w.uploadPart(w.prefix, end, src); err != nil {
			return err
		}
	}
}

// uploadPart uploads [lo, hi) as the next part: copied on the server from
// src in the current version when src >= 0 (falling back to the bytes if
// the copy fails), else the spool's bytes.
func (w *writer) uploadPart(lo, hi, src int64) error {
	if w.uploadID == "" {
		id, err := w.f.core.NewMultipartUpload(w.ctx, w.f.bucket, w.key, minio.PutObjectOptions{
			UserMetadata: metaFor(tree.File, w.meta.Mode, w.meta.Mtime, w.meta.Hash)})
		if err != nil {
			return fmt.Errorf("unable to start uploading %s: %w", w.meta.Path, mapErr(err))
		}
		w.uploadID = id
	}
	n := len(w.parts) + 1
	var etag string
	if src >= 0 {
		cp, err := w.f.core.CopyObjectPart(w.ctx, w.f.bucket, w.delta.key, w.f.bucket, w.key, w.uploadID, n, src, hi-lo,
			map[string]string{"x-amz-copy-source-if-match": `"` + w.delta.etag + `"`})
		if err != nil {
			w.f.log.Warn("unable to copy a part from the current version; uploading it", "path", w.meta.Path, "err", err)
		} else {
			etag = cp.ETag
		}
	}
	if etag == "" {
		part, err := w.f.core.PutObjectPart(w.ctx, w.f.bucket, w.key, w.uploadID, n, io.NewSectionReader(w.spool, lo, hi-lo), hi-lo, minio.PutObjectPartOptions{DisableContentSha256: true})
		if err != nil {
			return fmt.Errorf("unable to upload part %d of %s: %w", n, w.meta.Path, mapErr(err))
		}
		etag = part.ETag
	}
	if _, err := io.Copy(w.digest, io.NewSectionReader(w.spool, lo, hi-lo)); err != nil {
		return fmt.Errorf("unable to read the spool of %s: %w", w.meta.Path, err)
	}
	w.parts = append(w.parts, minio.CompletePart{PartNumber: n, ETag: strings.Trim(etag, `"`)})
	w.prefix = hi
	if hi < w.meta.Size {
		w.saveSidecar()
	}
	return nil
}

// saveSidecar records the upload for a resume by any node; failing costs
// only that resume.
func (w *writer) saveSidecar() {
	st, err := w.digest.MarshalBinary()
	if err != nil {
		return
	}
	sc := sidecar{Key: w.key, Size: w.meta.Size, Hash: w.meta.Hash, PartSize: w.ps, UploadID: w.uploadID, State: st, Checkpoint: w.ckpt}
	for _, p := range w.parts {
		sc.Parts = append(sc.Parts, sidecarPart{N: p.PartNumber, ETag: p.ETag})
	}
	b, err := json.Marshal(sc)
	if err != nil {
		return
	}
	if _, err := w.f.c.PutObject(w.ctx, w.f.bucket, w.sidecarKey(), bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{DisableContentSha256: true}); err != nil {
		w.f.log.Warn("unable to record an upload for resume", "path", w.meta.Path, "err", err)
	}
}

// Abort keeps the spool (this node) and the upload with its sidecar (any
// node) for a later attempt.
func (w *writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	if w.ps > 0 && w.uploadID != "" {
		w.saveSidecar()
	}
	st := spoolState{Size: w.meta.Size, Hash: w.meta.Hash, Ranges: w.written, Checkpoint: w.ckpt}
	b, _ := json.Marshal(st)
	w.f.storeBytes(w.spoolPath()+".json", b)
	if err := w.spool.Close(); err != nil {
		return fmt.Errorf("unable to close the spool of %s: %w", w.meta.Path, err)
	}
	return nil
}

// discard drops everything received: spool, upload and sidecar.
func (w *writer) discard() {
	w.done = true
	w.spool.Close()
	os.Remove(w.spoolPath())
	os.Remove(w.spoolPath() + ".json")
	ctx := context.WithoutCancel(w.ctx)
	if w.uploadID != "" {
		w.f.core.AbortMultipartUpload(ctx, w.f.bucket, w.key, w.uploadID)
		w.f.c.RemoveObject(ctx, w.f.bucket, w.sidecarKey(), minio.RemoveObjectOptions{})
	}
}

// finish drops the spool and the sidecar of a committed file.
func (w *writer) finish() {
	w.done = true
	w.spool.Close()
	os.Remove(w.spoolPath())
	os.Remove(w.spoolPath() + ".json")
	if w.ps > 0 {
		w.f.c.RemoveObject(context.WithoutCancel(w.ctx), w.f.bucket, w.sidecarKey(), minio.RemoveObjectOptions{})
	}
}

// Commit checks the content's xxhash, then the destination against
// expect, and makes the object appear by a write conditional on the
// destination's ETag (If-Match) or absence (If-None-Match: *): a 412 is
// ErrChanged, with the upload kept for the next attempt.
func (w *writer) Commit() error {
	if w.done {
		return fmt.Errorf("unable to commit %s: the writer is closed", w.meta.Path)
	}
	if !covered(addRange(slices.Clone(w.written), 0, w.prefix), 0, w.meta.Size) {
		return fmt.Errorf("unable to commit %s: not every byte was received: %w", w.meta.Path, io.ErrUnexpectedEOF)
	}
	d := xxhash.New()
	if st, err := w.digest.MarshalBinary(); err != nil || d.UnmarshalBinary(st) != nil {
		return fmt.Errorf("unable to hash %s: %v", w.meta.Path, err)
	}
	if _, err := io.Copy(d, io.NewSectionReader(w.spool, w.prefix, w.meta.Size-w.prefix)); err != nil {
		return fmt.Errorf("unable to read the spool of %s: %w", w.meta.Path, err)
	}
	if d.Sum64() != w.meta.Hash {
		w.discard()
		return fmt.Errorf("unable to commit %s: %w", w.meta.Path, endpoint.ErrHashMismatch)
	}
	// The rest of the parts go up first, so that the destination is
	// checked just before the conditional write.
	if w.ps > 0 {
		if err := w.pump(true); err != nil {
			w.Abort()
			return err
		}
	}
	cur, etag, err := w.f.statOrAbsent(w.ctx, w.meta.Path)
	if err != nil {
		w.Abort()
		return err
	}
	if !matches(cur, w.expect) {
		w.Abort()
		return fmt.Errorf("unable to commit %s: it changed since the scan: %w", w.meta.Path, endpoint.ErrChanged)
	}
	if cur.Kind == tree.Dir {
		if err := w.f.removeDir(w.ctx, w.meta.Path); err != nil {
			w.Abort()
			return err
		}
		etag = ""
	}
	if w.f.beforeWrite != nil {
		w.f.beforeWrite(w.meta.Path)
	}
	if w.ps == 0 {
		_, err = w.f.c.PutObject(w.ctx, w.f.bucket, w.key, io.NewSectionReader(w.spool, 0, w.meta.Size), w.meta.Size,
			putOpts(metaFor(tree.File, w.meta.Mode, w.meta.Mtime, w.meta.Hash), etag))
	} else {
		_, err = w.f.core.CompleteMultipartUpload(w.ctx, w.f.bucket, w.key, w.uploadID, w.parts, putOpts(nil, etag))
	}
	if err != nil {
		err = mapErr(err)
		if errors.Is(err, fs.ErrNotExist) && w.ps > 0 {
			// The upload is gone: another writer completed or aborted
			// it.
			w.discard()
			return fmt.Errorf("unable to commit %s: its upload is gone: %w", w.meta.Path, endpoint.ErrChanged)
		}
		w.Abort()
		return fmt.Errorf("unable to commit %s: %w", w.meta.Path, err)
	}
	w.finish()
	return nil
}
