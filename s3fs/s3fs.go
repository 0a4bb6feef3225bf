package s3fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// Config says which bucket and prefix a root is, and how to reach it.
type Config struct {
	Endpoint             string // host:port
	Secure               bool   // https
	Region               string
	PathStyle            bool
	Bucket               string
	Prefix               string // "" or "a/b" (no leading/trailing slash)
	AccessKey, SecretKey string
	// CacheDir is node-local: the scan cache, chunk lists and the spool of
	// files being received. "" is a temporary directory removed by Close.
	CacheDir      string
	PartialSuffix string
	Log           *slog.Logger
	// Transport, when set, carries every request (tests count bytes
	// through it).
	Transport http.RoundTripper
}

// EnsureValid checks what New needs.
func (c Config) EnsureValid() error {
	switch {
	case c.Endpoint == "":
		return errors.New("s3 root: no endpoint")
	case c.Bucket == "":
		return errors.New("s3 root: no bucket")
	case strings.HasPrefix(c.Prefix, "/") || strings.HasSuffix(c.Prefix, "/"):
		return fmt.Errorf("s3 root: prefix %q must not start or end with a slash", c.Prefix)
	}
	if c.Prefix != "" {
		if err := tree.ValidPath(c.Prefix); err != nil {
			return fmt.Errorf("s3 root: prefix: %w", err)
		}
	}
	return nil
}

// Metadata keys, as minio-go returns them (canonical header form, without
// x-amz-meta-).
const (
	metaKind  = "Ferry-Kind" // "file", "symlink" or "dir"
	metaMtime = "Ferry-Mtime"
	metaMode  = "Ferry-Mode"
	metaHash  = "Ferry-Hash"
)

// maxObject is S3's largest object: a bigger file does not fit.
const maxObject = 5 << 40

// FS is an S3 root.
type FS struct {
	c       *minio.Client
	core    minio.Core
	bucket  string
	prefix  string // "" or "a/b/"
	cache   string
	tmpDir  bool
	suffix  string
	log     *slog.Logger
	partMin int64
	http    *http.Client // for the conditional deletes minio-go cannot send
	// beforeWrite, in tests, runs between a check of a path (commit,
	// remove, rename) and the conditional write or delete that follows:
	// the window another node's write can land in.
	beforeWrite func(p string)
}

var (
	_ endpoint.Endpoint    = (*FS)(nil)
	_ endpoint.ChunkKeeper = (*FS)(nil)
)

// New opens the root c describes. It checks that the bucket exists.
func New(ctx context.Context, c Config) (endpoint.Endpoint, error) {
	return open(ctx, c)
}

func open(ctx context.Context, c Config) (*FS, error) {
	if err := c.EnsureValid(); err != nil {
		return nil, err
	}
	lookup := minio.BucketLookupDNS
	if c.PathStyle {
		lookup = minio.BucketLookupPath
	}
	cl, err := minio.New(c.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(c.AccessKey, c.SecretKey, ""),
		Secure:       c.Secure,
		Region:       c.Region,
		BucketLookup: lookup,
		Transport:    c.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("unable to set up the S3 client for %s: %w", c.Endpoint, err)
	}
	ok, err := cl.BucketExists(ctx, c.Bucket)
	if err != nil {
		return nil, fmt.Errorf("unable to reach bucket %q at %s: %w", c.Bucket, c.Endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("bucket %q does not exist at %s: create it first", c.Bucket, c.Endpoint)
	}
	f := &FS{c: cl, core: minio.Core{Client: cl}, bucket: c.Bucket, cache: c.CacheDir,
		suffix: c.PartialSuffix, log: c.Log, partMin: 8 << 20, http: &http.Client{Transport: c.Transport}}
	if c.Prefix != "" {
		f.prefix = c.Prefix + "/"
	}
	if f.suffix == "" {
		f.suffix = tree.DefaultPartialSuffix
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.cache == "" {
		d, err := os.MkdirTemp("", "ferry-s3-")
		if err != nil {
			return nil, fmt.Errorf("unable to make a cache directory: %w", err)
		}
		f.cache, f.tmpDir = d, true
	}
	for _, sub := range []string{"scan", "chunks", "spool"} {
		if err := os.MkdirAll(f.cache+"/"+sub, 0o700); err != nil {
			return nil, fmt.Errorf("unable to make the cache directory %s: %w", f.cache, err)
		}
	}
	f.pruneSpool(time.Now().Add(-spoolMaxAge))
	return f, nil
}

// spoolMaxAge is how long a spool no writer touches is kept: a transfer
// abandoned for good (its file deleted at the source) leaves one.
const spoolMaxAge = 7 * 24 * time.Hour

// pruneSpool removes spool files (and their state) last written before
// before.
func (f *FS) pruneSpool(before time.Time) {
	dir := filepath.Join(f.cache, "spool")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(before) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// Close removes a temporary cache directory.
func (f *FS) Close() error {
	if f.tmpDir {
		return os.RemoveAll(f.cache)
	}
	return nil
}

func (f *FS) key(p string) string { return f.prefix + p }

// rel is the path of a key below the prefix.
func (f *FS) rel(key string) string { return strings.TrimPrefix(key, f.prefix) }

// inoOf makes an ETag an entry's identity: never 0 (0 is "unknown").
func inoOf(etag string) uint64 {
	return xxhash.Sum64String(strings.Trim(etag, `"`)) | 1
}

// object is one object's state as HEAD gives it.
type object struct {
	etag    string
	size    int64
	lastMod time.Time
	meta    map[string]string
}

func (f *FS) head(ctx context.Context, key string) (object, error) {
	oi, err := f.c.StatObject(ctx, f.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return object{}, mapErr(err)
	}
	return object{etag: strings.Trim(oi.ETag, `"`), size: oi.Size, lastMod: oi.LastModified, meta: oi.UserMetadata}, nil
}

// entryOf turns an object under p into an entry; Hash is the metadata's,
// 0 when the object carries none.
func entryOf(p string, o object) tree.Entry {
	e := tree.Entry{Path: p, Kind: tree.File, Size: o.size, Mode: 0o644, Mtime: o.lastMod.UnixNano(), Ino: inoOf(o.etag)}
	if v, ok := o.meta[metaMtime]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			e.Mtime = n
		}
	}
	if v, ok := o.meta[metaMode]; ok {
		if n, err := strconv.ParseUint(v, 8, 32); err == nil {
			e.Mode = fs.FileMode(n).Perm()
		}
	}
	if v, ok := o.meta[metaHash]; ok {
		if n, err := strconv.ParseUint(v, 16, 64); err == nil {
			e.Hash = n
		}
	}
	switch o.meta[metaKind] {
	case "symlink":
		e.Kind, e.Size, e.Hash = tree.Symlink, 0, 0
	case "dir":
		e.Kind, e.Size, e.Hash = tree.Dir, 0, 0
	}
	return e
}

// metaFor is the user metadata an entry's object carries.
func metaFor(kind tree.Kind, mode fs.FileMode, mtime int64, hash uint64) map[string]string {
	m := map[string]string{
		metaMode:  strconv.FormatUint(uint64(mode.Perm()), 8),
		metaMtime: strconv.FormatInt(mtime, 10),
	}
	switch kind {
	case tree.File:
		m[metaKind] = "file"
		m[metaHash] = strconv.FormatUint(hash, 16)
	case tree.Symlink:
		m[metaKind] = "symlink"
	case tree.Dir:
		m[metaKind] = "dir"
	}
	return m
}

// A directory's marker "dir/" holds its mode and mtime in its body as
// well as in metadata: SeaweedFS keeps a marker as a filer directory,
// with its body (up to 1 KiB) but without user metadata.
func markerBody(mode fs.FileMode, mtime int64) []byte {
	return fmt.Appendf(nil, "ferry-dir mode=%o mtime=%d\n", mode.Perm(), mtime)
}

// markerEntry is the directory a marker o describes: mode and mtime from
// its body, else its metadata, else 0755 and its last-modified time. A
// directory's Ino is 0: a marker's ETag names its body, not the directory.
func (f *FS) markerEntry(ctx context.Context, p string, o object) (tree.Entry, error) {
	e := entryOf(p, o)
	e.Kind, e.Size, e.Hash, e.Ino = tree.Dir, 0, 0, 0
	if _, ok := o.meta[metaMode]; !ok {
		e.Mode = 0o755
	}
	if o.size == 0 || o.size > 1024 {
		return e, nil
	}
	b, err := f.readAll(ctx, f.key(p)+"/", o.etag, 1024)
	if err != nil {
		return tree.Entry{}, err
	}
	var mode uint32
	var mtime int64
	if _, err := fmt.Sscanf(string(b), "ferry-dir mode=%o mtime=%d", &mode, &mtime); err == nil {
		e.Mode, e.Mtime = fs.FileMode(mode).Perm(), mtime
	}
	return e, nil
}

// stat is Stat with the object's ETag (for conditional writes) and, for a
// symlink, its target read.
func (f *FS) stat(ctx context.Context, p string) (tree.Entry, string, error) {
	o, err := f.head(ctx, f.key(p))
	if err == nil {
		e := entryOf(p, o)
		if e.Kind == tree.Symlink {
			t, err := f.readAll(ctx, f.key(p), o.etag, 4096)
			if err != nil {
				return tree.Entry{}, "", err
			}
			e.Target = string(t)
		}
		return e, o.etag, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return tree.Entry{}, "", fmt.Errorf("unable to stat %s: %w", p, err)
	}
	// One listing tells a missing path (the common case: a new file)
	// from a directory, marked (its marker lists first) or implied.
	first, ok, err := f.firstBelow(ctx, p)
	if err != nil {
		return tree.Entry{}, "", err
	}
	if !ok {
		return tree.Entry{}, "", fmt.Errorf("unable to stat %s: %w", p, fs.ErrNotExist)
	}
	if first == f.key(p)+"/" {
		o, err = f.head(ctx, first)
		if err == nil {
			e, err := f.markerEntry(ctx, p, o)
			return e, o.etag, err
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return tree.Entry{}, "", fmt.Errorf("unable to stat %s: %w", p, err)
		}
	}
	return tree.Entry{Path: p, Kind: tree.Dir, Mode: 0o755}, "", nil
}

// firstBelow is the first key below directory p, if any.
func (f *FS) firstBelow(ctx context.Context, p string) (string, bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for o := range f.c.ListObjects(ctx, f.bucket, minio.ListObjectsOptions{Prefix: f.key(p) + "/", Recursive: true, MaxKeys: 1}) {
		if o.Err != nil {
			return "", false, fmt.Errorf("unable to list %s: %w", p, mapErr(o.Err))
		}
		return o.Key, true, nil
	}
	return "", false, nil
}

// hasChildren reports whether any key but skip lies below directory p.
func (f *FS) hasChildren(ctx context.Context, p, skip string) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for o := range f.c.ListObjects(ctx, f.bucket, minio.ListObjectsOptions{Prefix: f.key(p) + "/", Recursive: true, MaxKeys: 2}) {
		if o.Err != nil {
			return false, fmt.Errorf("unable to list %s: %w", p, mapErr(o.Err))
		}
		if o.Key != skip {
			return true, nil
		}
	}
	return false, nil
}

// Stat lstats one path.
func (f *FS) Stat(ctx context.Context, p string) (tree.Entry, error) {
	if err := tree.ValidPath(p); err != nil {
		return tree.Entry{}, err
	}
	e, _, err := f.stat(ctx, p)
	e.Hash = 0 // Stat does not hash; the metadata's hash is the scan's to give
	return e, err
}

// statOrAbsent is stat with a missing path as an Absent entry.
func (f *FS) statOrAbsent(ctx context.Context, p string) (tree.Entry, string, error) {
	e, etag, err := f.stat(ctx, p)
	if errors.Is(err, fs.ErrNotExist) {
		return tree.Entry{Path: p}, "", nil
	}
	return e, etag, err
}

// checkParent makes sure p's parent is a directory: writes never land
// below a file or a symlink.
func (f *FS) checkParent(ctx context.Context, p string) error {
	parent := tree.Parent(p)
	if parent == "" {
		return nil
	}
	// Only whether it is a directory matters: an object there (a file
	// or a link) is not one; else any key below makes it one.
	o, err := f.head(ctx, f.key(parent))
	if err == nil {
		return fmt.Errorf("unable to write %s: its parent is a %s, not a directory: %w", p, entryOf(parent, o).Kind, fs.ErrNotExist)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unable to write %s: its parent: %w", p, err)
	}
	_, ok, err := f.firstBelow(ctx, parent)
	if err != nil {
		return fmt.Errorf("unable to write %s: its parent: %w", p, err)
	}
	if !ok {
		return fmt.Errorf("unable to write %s: its parent %s: %w", p, parent, fs.ErrNotExist)
	}
	return nil
}

// matches checks the current state of a path against what the caller
// expects it to be.
func matches(cur, expect tree.Entry) bool {
	if !expect.Exists() {
		return !cur.Exists()
	}
	return cur.Exists() && cur.SameStat(expect)
}

// readAll reads a whole (small) object, as long as it is still etag.
func (f *FS) readAll(ctx context.Context, key, etag string, limit int64) ([]byte, error) {
	opts := minio.GetObjectOptions{}
	if etag != "" {
		opts.SetMatchETag(etag)
	}
	rc, _, _, err := f.core.GetObject(ctx, f.bucket, key, opts)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, mapErr(err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("object %s is larger than %d bytes", key, limit)
	}
	return b, nil
}

// mapErr turns S3 errors the engine acts on into its sentinels.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	r := minio.ToErrorResponse(err)
	switch {
	case r.StatusCode == http.StatusNotFound || r.Code == "NoSuchKey":
		return fmt.Errorf("%w (%s)", fs.ErrNotExist, err)
	case r.StatusCode == http.StatusPreconditionFailed || r.Code == "PreconditionFailed" ||
		r.Code == "ConditionalRequestConflict":
		return fmt.Errorf("%w: the object changed (%s)", endpoint.ErrChanged, err)
	case r.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w (%s)", fs.ErrPermission, err)
	}
	return err
}

// Every upload goes unsigned (UNSIGNED-PAYLOAD): minio-go would otherwise
// sign plain-HTTP bodies in aws-chunked encoding, which some S3-compatible
// stores reject, and hash every byte with SHA-256 on the node. Content is
// checked by its xxhash at Commit instead.

// putOpts are the options of a write conditional on the destination's
// state: absent (If-None-Match: *) or the object etag (If-Match).
func putOpts(meta map[string]string, etag string) minio.PutObjectOptions {
	o := minio.PutObjectOptions{UserMetadata: meta, DisableContentSha256: true}
	if etag == "" {
		o.SetMatchETagExcept("*")
	} else {
		o.SetMatchETag(etag)
	}
	return o
}

// FreeSpace is unknown on an object store: zero Total, which the engine
// reads as "not known".
func (f *FS) FreeSpace(ctx context.Context) (endpoint.Space, error) { return endpoint.Space{}, nil }

// Caps: objects are not bound to their keys.
func (f *FS) Caps() endpoint.Caps { return endpoint.Caps{} }

// Folding: S3 keys are byte strings, nothing folds.
func (f *FS) Folding(ctx context.Context) (endpoint.Folding, error) { return endpoint.Folding{}, nil }
