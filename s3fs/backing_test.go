package s3fs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/endpoint/endpointtest"
	"github.com/ferry-sync/ferry/tree"
)

// store is an S3 service for a test: where it is and how to sign in.
type store struct {
	endpoint, access, secret, bucket string
}

// fakeStore starts an in-process gofakes3 with one bucket. It is for unit
// tests only: it is not SeaweedFS, and the acceptance tests never use it.
func fakeStore(t *testing.T) store {
	t.Helper()
	faker := gofakes3.New(s3mem.New(), gofakes3.WithoutVersioning())
	h := faker.Server()
	// Go's client sends no Content-Length for an empty PUT body; gofakes3
	// wants one (S3 and SeaweedFS do not).
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Length") == "" && r.ContentLength >= 0 && (r.Method == http.MethodPut || r.Method == http.MethodPost) {
			r.Header.Set("Content-Length", fmt.Sprint(r.ContentLength))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s := store{endpoint: strings.TrimPrefix(srv.URL, "http://"), access: "ferry", secret: "ferry-secret", bucket: "ferry"}
	if err := s.client(t).MakeBucket(context.Background(), s.bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s store) client(t testing.TB) *minio.Client {
	c, err := minio.New(s.endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.access, s.secret, ""),
		BucketLookup: minio.BucketLookupPath, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// config is a root over prefix in the store, with its own node-local cache.
func (s store) config(t testing.TB, prefix string, rt http.RoundTripper) Config {
	return Config{Endpoint: s.endpoint, PathStyle: true, Region: "us-east-1", Bucket: s.bucket, Prefix: prefix,
		AccessKey: s.access, SecretKey: s.secret, CacheDir: t.TempDir(), Transport: rt}
}

func (s store) open(t testing.TB, prefix string, rt http.RoundTripper) *FS {
	t.Helper()
	f, err := open(context.Background(), s.config(t, prefix, rt))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

var prefixes atomic.Int64

// factory opens each test's root under a prefix of its own.
func (s store) factory() endpointtest.BackingFactory {
	return func(t *testing.T) (endpoint.Endpoint, endpointtest.Backing) {
		prefix := fmt.Sprintf("roots/r%d", prefixes.Add(1))
		f, err := open(context.Background(), s.config(t, prefix, nil))
		if err != nil {
			t.Fatal(err)
		}
		return f, &s3Backing{c: s.client(t), bucket: s.bucket, prefix: prefix + "/"}
	}
}

// s3Backing is the bucket behind an S3 root as the conformance suite
// checks it, written with plain minio-go calls in the mapping the package
// documents (not through FS).
type s3Backing struct {
	c      *minio.Client
	bucket string
	prefix string
}

var _ endpointtest.Backing = (*s3Backing)(nil)

func (b *s3Backing) put(key string, body []byte, kind tree.Kind, mode fs.FileMode, mtime int64) error {
	if mtime == 0 {
		mtime = time.Now().UnixNano()
	}
	m := metaFor(kind, mode, mtime, 0)
	delete(m, metaHash) // as another tool would: the root hashes it once
	_, err := b.c.PutObject(context.Background(), b.bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{UserMetadata: m, DisableContentSha256: true})
	return err
}

func (b *s3Backing) WriteFile(p string, content []byte, mode fs.FileMode, mtime int64) error {
	return b.put(b.prefix+p, content, tree.File, mode, mtime)
}

func (b *s3Backing) Mkdir(p string, mode fs.FileMode) error {
	return b.put(b.prefix+p+"/", markerBody(mode, time.Now().UnixNano()), tree.Dir, mode, 0)
}

func (b *s3Backing) Symlink(target, p string) error {
	return b.put(b.prefix+p, []byte(target), tree.Symlink, 0o777, 0)
}

func (b *s3Backing) ReadFile(p string) ([]byte, error) {
	o, err := b.c.GetObject(context.Background(), b.bucket, b.prefix+p, minio.GetObjectOptions{})
	if err != nil {
		return nil, mapErr(err)
	}
	defer o.Close()
	body, err := io.ReadAll(o)
	return body, mapErr(err)
}

func (b *s3Backing) Lstat(p string) (tree.Entry, error) {
	ctx := context.Background()
	oi, err := b.c.StatObject(ctx, b.bucket, b.prefix+p, minio.StatObjectOptions{})
	if err == nil {
		e := entryOf(p, object{etag: strings.Trim(oi.ETag, `"`), size: oi.Size, lastMod: oi.LastModified, meta: oi.UserMetadata})
		e.Hash = 0
		if e.Kind == tree.Symlink {
			t, err := b.ReadFile(p)
			if err != nil {
				return tree.Entry{}, err
			}
			e.Target = string(t)
		}
		return e, nil
	}
	oi, err = b.c.StatObject(ctx, b.bucket, b.prefix+p+"/", minio.StatObjectOptions{})
	if err == nil {
		e := tree.Entry{Path: p, Kind: tree.Dir, Mode: 0o755, Mtime: oi.LastModified.UnixNano()}
		body, err := b.ReadFile(p + "/")
		if err != nil {
			return tree.Entry{}, err
		}
		var mode uint32
		if _, err := fmt.Sscanf(string(body), "ferry-dir mode=%o mtime=%d", &mode, &e.Mtime); err == nil {
			e.Mode = fs.FileMode(mode)
		}
		return e, nil
	}
	for o := range b.c.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: b.prefix + p + "/", Recursive: true}) {
		if o.Err == nil {
			return tree.Entry{Path: p, Kind: tree.Dir, Mode: 0o755}, nil
		}
	}
	return tree.Entry{}, fmt.Errorf("lstat %s: %w", p, fs.ErrNotExist)
}

func (b *s3Backing) Remove(p string) error {
	ctx := context.Background()
	if _, err := b.c.StatObject(ctx, b.bucket, b.prefix+p, minio.StatObjectOptions{}); err == nil {
		return b.c.RemoveObject(ctx, b.bucket, b.prefix+p, minio.RemoveObjectOptions{})
	}
	return b.c.RemoveObject(ctx, b.bucket, b.prefix+p+"/", minio.RemoveObjectOptions{})
}

func (b *s3Backing) ReadDir(p string) ([]string, error) {
	dir := b.prefix
	if p != "" {
		dir += p + "/"
	}
	seen := map[string]bool{}
	var names []string
	for o := range b.c.ListObjects(context.Background(), b.bucket, minio.ListObjectsOptions{Prefix: dir}) {
		if o.Err != nil {
			return nil, o.Err
		}
		name := strings.TrimSuffix(strings.TrimPrefix(o.Key, dir), "/")
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		names = append(names, name)
	}
	return names, nil
}

func (b *s3Backing) Caps() endpointtest.Caps { return endpointtest.Caps{} }

// counter is a RoundTripper that counts the requests and body bytes of
// each kind of S3 call.
type counter struct {
	mu    sync.Mutex
	calls map[string]int
	bytes map[string]int64
}

func newCounter() *counter { return &counter{calls: map[string]int{}, bytes: map[string]int64{}} }

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	q := r.URL.Query()
	kind := r.Method
	switch {
	case q.Has("partNumber") && r.Header.Get("X-Amz-Copy-Source") != "":
		kind = "UploadPartCopy"
	case q.Has("partNumber"):
		kind = "UploadPart"
	case r.Method == http.MethodPost && q.Has("uploadId"):
		kind = "Complete"
	case r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != "":
		kind = "CopyObject"
	}
	c.mu.Lock()
	c.calls[kind]++
	if r.ContentLength > 0 {
		c.bytes[kind] += r.ContentLength
	}
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (c *counter) get(kind string) (int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[kind], c.bytes[kind]
}

func (c *counter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.calls {
		n += v
	}
	return n
}
