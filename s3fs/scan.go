package s3fs

import (
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
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/minio/minio-go/v7"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
	"github.com/ferry-sync/ferry/versions"
)

// listed is what a listing says of one key: enough to find its cached
// entry without asking for more.
type listed struct {
	key     string
	etag    string
	size    int64
	lastMod time.Time
}

// node is one path of the listing: an object at it, a marker "path/", or
// neither (a directory implied by keys below it).
type node struct {
	obj, marker *listed
	children    bool
}

// Scan streams the prefix's listing (ListObjectsV2, recursive) and visits
// every entry in tree.Compare order, holding back only the few names the
// listing's byte order puts early (see reorder). A file's hash
// comes from its metadata through the scan cache (keyed by key, ETag,
// size and last-modified), so an unchanged object costs no request; an
// object another tool wrote is read and hashed once.
//
// opts.Within is ignored: a bucket is listed whole, which the hint
// allows (the pass filters the listing to its scope).
func (f *FS) Scan(ctx context.Context, opts endpoint.ScanOptions, visit func(tree.Entry) error) error {
	m, err := tree.NewMatcher(opts.Exclude)
	if err != nil {
		return err
	}
	suffix := opts.PartialSuffix
	if suffix == "" {
		suffix = f.suffix
	}
	started := time.Now()
	used := map[string]bool{} // scan cache records of what is listed
	skip := ""                // a path whose subtree is left out
	emit := func(p string, n *node) error {
		for _, l := range []*listed{n.obj, n.marker} {
			if l != nil {
				used[filepath.Base(f.cachePath("scan", l))] = true
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if skip != "" && tree.IsBelow(p, skip) {
			return nil
		}
		skip = ""
		name := tree.Base(p)
		isDir := n.obj == nil
		if versions.IsStoreName(name) || tree.IsTemp(name, suffix) || m.Match(p, isDir) {
			skip = p
			return nil
		}
		e, err := f.entryOfNode(ctx, p, n)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // gone since the listing
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			e = tree.Entry{Path: p, Kind: tree.File, Problem: "unable to read: " + err.Error()}
		}
		if e.Problem == "" {
			if err := tree.ValidPath(p); err != nil {
				e.Problem = "name cannot be synced: " + err.Error() + "; rename it"
			}
		}
		if e.Problem != "" || e.Kind != tree.Dir {
			skip = p
		}
		return visit(e)
	}
	ro := newReorder(emit)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for o := range f.c.ListObjects(lctx, f.bucket, minio.ListObjectsOptions{Prefix: f.prefix, Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("unable to list the bucket: %w", mapErr(o.Err))
		}
		l := &listed{key: o.Key, etag: strings.Trim(o.ETag, `"`), size: o.Size, lastMod: o.LastModified}
		if err := ro.add(f.rel(o.Key), l); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ro.flush(); err != nil {
		return err
	}
	f.pruneScanCache(used, started)
	return nil
}

// pruneScanCache drops the records of objects a whole listing no longer
// shows (deleted or rewritten), older than the scan: the cache keeps no
// more records than the bucket has objects.
func (f *FS) pruneScanCache(used map[string]bool, before time.Time) {
	dir := filepath.Join(f.cache, "scan")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if used[e.Name()] {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(before) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func (f *FS) entryOfNode(ctx context.Context, p string, n *node) (tree.Entry, error) {
	switch {
	case n.obj != nil && (n.marker != nil || n.children):
		return tree.Entry{Path: p, Kind: tree.File, Problem: fmt.Sprintf("object %q is also a directory (keys below it); ferry cannot sync both: rename one", n.obj.key)}, nil
	case n.obj != nil:
		return f.resolve(ctx, p, n.obj)
	case n.marker != nil:
		e, err := f.resolve(ctx, p, n.marker)
		if errors.Is(err, fs.ErrNotExist) && n.children {
			return tree.Entry{Path: p, Kind: tree.Dir, Mode: 0o755}, nil
		}
		return e, err
	}
	return tree.Entry{Path: p, Kind: tree.Dir, Mode: 0o755}, nil
}

// cached is the scan cache's record of one object version.
type cached struct {
	Kind   tree.Kind
	Mode   fs.FileMode
	Mtime  int64
	Hash   uint64
	Target string
}

func (f *FS) cachePath(sub string, l *listed) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00%d", f.bucket, l.key, l.etag, l.size, l.lastMod.UnixNano())
	return filepath.Join(f.cache, sub, hex.EncodeToString(h.Sum(nil)))
}

// resolve gives the entry of the object l lists: from the cache, else
// from its metadata (HEAD), else by reading it.
func (f *FS) resolve(ctx context.Context, p string, l *listed) (tree.Entry, error) {
	if b, err := os.ReadFile(f.cachePath("scan", l)); err == nil {
		var c cached
		if json.Unmarshal(b, &c) == nil {
			e := tree.Entry{Path: p, Kind: c.Kind, Size: l.size, Mode: c.Mode, Mtime: c.Mtime, Hash: c.Hash,
				Target: c.Target, Ino: inoOf(l.etag)}
			if c.Kind == tree.Dir {
				e.Size, e.Ino = 0, 0
			}
			return e, nil
		}
	}
	o, err := f.head(ctx, l.key)
	if err != nil {
		return tree.Entry{}, err
	}
	var e tree.Entry
	if strings.HasSuffix(l.key, "/") {
		if e, err = f.markerEntry(ctx, p, o); err != nil {
			return tree.Entry{}, err
		}
	} else {
		e = entryOf(p, o)
	}
	// Filed under the listing's record, which the next listing repeats
	// (HEAD's Last-Modified has a coarser grain than a listing's), unless
	// the object changed since the listing.
	fresh := l
	if o.etag != l.etag || o.size != l.size {
		fresh = &listed{key: l.key, etag: o.etag, size: o.size, lastMod: o.lastMod}
	}
	switch e.Kind {
	case tree.Symlink:
		t, err := f.readAll(ctx, l.key, o.etag, 4096)
		if err != nil {
			return tree.Entry{}, err
		}
		e.Target = string(t)
	case tree.File:
		if e.Hash == 0 {
			if e.Hash, err = f.hashObject(ctx, l.key, o.etag); err != nil {
				return tree.Entry{}, err
			}
		}
	}
	f.store(f.cachePath("scan", fresh), cached{Kind: e.Kind, Mode: e.Mode, Mtime: e.Mtime, Hash: e.Hash, Target: e.Target})
	return e, nil
}

// store writes a cache record whole or not at all; a failure only costs
// a request next time.
func (f *FS) store(path string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	f.storeBytes(path, b)
}

func (f *FS) storeBytes(path string, b []byte) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), path) != nil {
		os.Remove(tmp.Name())
	}
}

// hashObject reads an object once and returns its xxhash.
func (f *FS) hashObject(ctx context.Context, key, etag string) (uint64, error) {
	opts := minio.GetObjectOptions{}
	opts.SetMatchETag(etag)
	rc, _, _, err := f.core.GetObject(ctx, f.bucket, key, opts)
	if err != nil {
		return 0, mapErr(err)
	}
	defer rc.Close()
	h := xxhash.New()
	if _, err := io.Copy(h, rc); err != nil {
		return 0, mapErr(err)
	}
	return h.Sum64(), nil
}

// hashOf is the xxhash of the file e (as stat gave it, with etag): its
// metadata's, else the scan cache's, else read once.
func (f *FS) hashOf(ctx context.Context, p string, e tree.Entry, etag string) (uint64, error) {
	if e.Hash != 0 {
		return e.Hash, nil
	}
	o, err := f.head(ctx, f.key(p))
	if err != nil {
		return 0, err
	}
	if o.etag != etag {
		return 0, fmt.Errorf("unable to hash %s: it changed: %w", p, endpoint.ErrChanged)
	}
	got, err := f.resolve(ctx, p, &listed{key: f.key(p), etag: o.etag, size: o.size, lastMod: o.lastMod})
	if err != nil {
		return 0, err
	}
	return got.Hash, nil
}
