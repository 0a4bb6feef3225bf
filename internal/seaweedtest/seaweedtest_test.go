package seaweedtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/signer"
)

// cluster is the one SeaweedFS the tests of this package share.
var cluster *Cluster

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	bin, err := Binary()
	if err != nil {
		// Start reports the missing binary per test: a skip, or a
		// failure under FERRY_REQUIRE_SEAWEED.
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "seaweedtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	c, err := Launch(bin, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	cluster = c
	return m.Run()
}

func shared(t *testing.T) *Cluster {
	t.Helper()
	if cluster == nil {
		need(t)
		t.Fatal("seaweedtest: the shared cluster did not start")
	}
	return cluster
}

// TestStartStoresAndStops starts a cluster of its own, stores an object
// through a signed client, and checks that Close kills weed and that an
// unsigned request is refused.
func TestStartStoresAndStops(t *testing.T) {
	c := Start(t)
	ctx := context.Background()
	bucket := c.NewBucket(t)
	if _, err := c.Client().PutObject(ctx, bucket, "a/b.txt", strings.NewReader("hello"), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	got := readObject(t, c, bucket, "a/b.txt")
	if got != "hello" {
		t.Fatalf("read %q, want hello", got)
	}
	resp, err := http.Get("http://" + c.Endpoint() + "/" + bucket + "/a/b.txt")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an unsigned GET answered %s, want 403 Forbidden", resp.Status)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.proc.exited:
	default:
		t.Fatal("weed still runs after Close")
	}
	if _, err := http.Get("http://" + c.Endpoint() + "/"); err == nil {
		t.Fatal("the S3 port still answers after Close")
	}
}

// TestNewBucketIsEmptyAndOwn gives each caller a bucket of its own.
func TestNewBucketIsEmptyAndOwn(t *testing.T) {
	c := shared(t)
	a, b := c.NewBucket(t), c.NewBucket(t)
	if a == b {
		t.Fatalf("two buckets named %s", a)
	}
	for o := range c.Client().ListObjects(context.Background(), a, minio.ListObjectsOptions{Recursive: true}) {
		t.Fatalf("new bucket %s holds %q (%v)", a, o.Key, o.Err)
	}
}

// TestCapabilities probes what ferry's S3 root needs of the store (issue
// 18 §1, §2) on this SeaweedFS version; /work/briefs/seaweed-findings.md
// records the outcome. A case that fails here is a capability the pinned
// SeaweedFS lacks.
func TestCapabilities(t *testing.T) {
	c := shared(t)
	ctx := context.Background()
	bucket := c.NewBucket(t)
	cl := c.Client()
	core := &minio.Core{Client: cl}

	put := func(key, body string, opts minio.PutObjectOptions) (minio.UploadInfo, error) {
		return cl.PutObject(ctx, bucket, key, strings.NewReader(body), int64(len(body)), opts)
	}

	t.Run("PutIfNoneMatch", func(t *testing.T) {
		var o minio.PutObjectOptions
		o.SetMatchETagExcept("*")
		if _, err := put("new", "one", o); err != nil {
			t.Fatalf("If-None-Match: * on a new key: %v", err)
		}
		_, err := put("new", "two", o)
		wantPrecondition(t, "If-None-Match: * on an existing key", err)
		if got := readObject(t, c, bucket, "new"); got != "one" {
			t.Fatalf("the refused put changed the object to %q", got)
		}
	})

	t.Run("PutIfMatch", func(t *testing.T) {
		info, err := put("m", "one", minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var stale minio.PutObjectOptions
		stale.SetMatchETag("0123456789abcdef0123456789abcdef")
		_, err = put("m", "bad", stale)
		wantPrecondition(t, "If-Match on a stale ETag", err)
		var fresh minio.PutObjectOptions
		fresh.SetMatchETag(info.ETag)
		if _, err := put("m", "two", fresh); err != nil {
			t.Fatalf("If-Match on the current ETag: %v", err)
		}
		// On a missing key, If-Match fails as on AWS: 404 NoSuchKey (not
		// 412), and nothing is created.
		var absent minio.PutObjectOptions
		absent.SetMatchETag(info.ETag)
		_, err = put("absent", "x", absent)
		if r := minio.ToErrorResponse(err); r.StatusCode != http.StatusNotFound && r.StatusCode != http.StatusPreconditionFailed {
			t.Fatalf("If-Match on a missing key: %v, want 404 NoSuchKey or 412", err)
		}
		if _, err := cl.StatObject(ctx, bucket, "absent", minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
			t.Fatalf("a refused If-Match put created the key: %v", err)
		}
	})

	t.Run("UserMetadata", func(t *testing.T) {
		meta := map[string]string{"Ferry-Mtime": "1700000000123456789", "Ferry-Mode": "0755", "Ferry-Hash": "00ff00ff00ff00ff"}
		if _, err := put("meta", "x", minio.PutObjectOptions{UserMetadata: meta}); err != nil {
			t.Fatal(err)
		}
		st, err := cl.StatObject(ctx, bucket, "meta", minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range meta {
			if st.UserMetadata[k] != v {
				t.Errorf("metadata %s = %q, want %q (all: %v)", k, st.UserMetadata[k], v, st.UserMetadata)
			}
		}
		// Listings can carry metadata (a MinIO extension); report whether
		// SeaweedFS fills it, since a scan without it must HEAD each object.
		for o := range cl.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "meta", WithMetadata: true}) {
			t.Logf("ListObjects WithMetadata gives %v for %s", o.UserMetadata, o.Key)
		}
	})

	t.Run("Multipart", func(t *testing.T) {
		const part = 5 << 20
		body := bytes.Repeat([]byte("0123456789abcdef"), 2*part/16+10)
		id, err := core.NewMultipartUpload(ctx, bucket, "mp", minio.PutObjectOptions{UserMetadata: map[string]string{"Ferry-Mtime": "42"}})
		if err != nil {
			t.Fatal(err)
		}
		var parts []minio.CompletePart
		for i, off := 1, 0; off < len(body); i, off = i+1, off+part {
			end := min(off+part, len(body))
			p, err := core.PutObjectPart(ctx, bucket, "mp", id, i, bytes.NewReader(body[off:end]), int64(end-off), minio.PutObjectPartOptions{})
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, minio.CompletePart{PartNumber: p.PartNumber, ETag: p.ETag})
			if i == 2 {
				break // the third part comes after ListParts below
			}
		}
		// A restarted node finds the upload and its parts.
		ups, err := core.ListMultipartUploads(ctx, bucket, "mp", "", "", "", 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(ups.Uploads) != 1 || ups.Uploads[0].UploadID != id {
			t.Fatalf("ListMultipartUploads: %+v, want upload %s", ups.Uploads, id)
		}
		lp, err := core.ListObjectParts(ctx, bucket, "mp", id, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(lp.ObjectParts) != 2 || lp.ObjectParts[0].Size != part || strings.Trim(lp.ObjectParts[1].ETag, `"`) != strings.Trim(parts[1].ETag, `"`) {
			t.Fatalf("ListParts: %+v, want two parts of %d bytes", lp.ObjectParts, part)
		}
		p, err := core.PutObjectPart(ctx, bucket, "mp", id, 3, bytes.NewReader(body[2*part:]), int64(len(body)-2*part), minio.PutObjectPartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, minio.CompletePart{PartNumber: p.PartNumber, ETag: p.ETag})
		// Before it completes, the object does not exist (never torn).
		if _, err := cl.StatObject(ctx, bucket, "mp", minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
			t.Fatalf("an uncompleted upload is visible: %v", err)
		}
		// Someone else creates the key meanwhile: a conditional complete
		// must lose.
		if _, err := put("mp", "other", minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		var create minio.PutObjectOptions
		create.SetMatchETagExcept("*")
		_, err = core.CompleteMultipartUpload(ctx, bucket, "mp", id, parts, create)
		wantPrecondition(t, "CompleteMultipartUpload with If-None-Match: * on an existing key", err)
		if got := readObject(t, c, bucket, "mp"); got != "other" {
			t.Fatalf("the refused complete changed the object to %d bytes", len(got))
		}
		// The refused upload is still there to complete another way.
		st, err := cl.StatObject(ctx, bucket, "mp", minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var stale minio.PutObjectOptions
		stale.SetMatchETag("0123456789abcdef0123456789abcdef")
		_, err = core.CompleteMultipartUpload(ctx, bucket, "mp", id, parts, stale)
		wantPrecondition(t, "CompleteMultipartUpload with a stale If-Match", err)
		var match minio.PutObjectOptions
		match.SetMatchETag(st.ETag)
		info, err := core.CompleteMultipartUpload(ctx, bucket, "mp", id, parts, match)
		if err != nil {
			t.Fatalf("CompleteMultipartUpload with If-Match on the current ETag (after refused completes): %v", err)
		}
		if got := readObject(t, c, bucket, "mp"); got != string(body) {
			t.Fatalf("the completed object has %d bytes, want %d", len(got), len(body))
		}
		st, err = cl.StatObject(ctx, bucket, "mp", minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("multipart ETag %s (complete said %s), metadata %v", st.ETag, info.ETag, st.UserMetadata)
		if st.UserMetadata["Ferry-Mtime"] != "42" {
			t.Errorf("metadata given at NewMultipartUpload: %v, want Ferry-Mtime=42", st.UserMetadata)
		}
	})

	t.Run("UploadPartCopy", func(t *testing.T) {
		const part = 5 << 20
		src := bytes.Repeat([]byte("abcdefghijklmnop"), 2*part/16)
		if _, err := cl.PutObject(ctx, bucket, "src", bytes.NewReader(src), int64(len(src)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		id, err := core.NewMultipartUpload(ctx, bucket, "dst", minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Part 1 copies the second half of src server-side; part 2 is new.
		p1, err := core.CopyObjectPart(ctx, bucket, "src", bucket, "dst", id, 1, part, part, nil)
		if err != nil {
			t.Fatalf("UploadPartCopy: %v", err)
		}
		p2, err := core.PutObjectPart(ctx, bucket, "dst", id, 2, strings.NewReader("tail"), 4, minio.PutObjectPartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := core.CompleteMultipartUpload(ctx, bucket, "dst", id, []minio.CompletePart{{PartNumber: 1, ETag: p1.ETag}, {PartNumber: 2, ETag: p2.ETag}}, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := readObject(t, c, bucket, "dst"); got != string(src[part:])+"tail" {
			t.Fatalf("the copied object has %d bytes, want %d", len(got), part+4)
		}
	})

	t.Run("CopyObject", func(t *testing.T) {
		if _, err := put("c1", "copy me", minio.PutObjectOptions{UserMetadata: map[string]string{"Ferry-Mode": "0644"}}); err != nil {
			t.Fatal(err)
		}
		// A plain copy keeps the metadata.
		if _, err := cl.CopyObject(ctx, minio.CopyDestOptions{Bucket: bucket, Object: "c2"}, minio.CopySrcOptions{Bucket: bucket, Object: "c1"}); err != nil {
			t.Fatal(err)
		}
		st, err := cl.StatObject(ctx, bucket, "c2", minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if st.UserMetadata["Ferry-Mode"] != "0644" || readObject(t, c, bucket, "c2") != "copy me" {
			t.Fatalf("copy: metadata %v", st.UserMetadata)
		}
		// A copy replacing the metadata.
		if _, err := cl.CopyObject(ctx, minio.CopyDestOptions{Bucket: bucket, Object: "c3", ReplaceMetadata: true, UserMetadata: map[string]string{"Ferry-Mode": "0600"}}, minio.CopySrcOptions{Bucket: bucket, Object: "c1"}); err != nil {
			t.Fatal(err)
		}
		st, err = cl.StatObject(ctx, bucket, "c3", minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if st.UserMetadata["Ferry-Mode"] != "0600" {
			t.Fatalf("copy replacing metadata: %v", st.UserMetadata)
		}
		// A copy conditional on the source's ETag (x-amz-copy-source-if-match).
		_, err = cl.CopyObject(ctx, minio.CopyDestOptions{Bucket: bucket, Object: "c4"}, minio.CopySrcOptions{Bucket: bucket, Object: "c1", MatchETag: "0123456789abcdef0123456789abcdef"})
		wantPrecondition(t, "CopyObject with a stale x-amz-copy-source-if-match", err)
		// A copy that must not overwrite its destination (If-None-Match:
		// * on the copy). minio-go's CopyObject does not send the
		// destination's conditions: a request signed with its signer
		// package does.
		copyHeaders := http.Header{"X-Amz-Copy-Source": {"/" + bucket + "/c1"}, "If-None-Match": {"*"}}
		if code := signedRequest(t, c, http.MethodPut, bucket, "c2", copyHeaders); code != http.StatusPreconditionFailed {
			t.Fatalf("CopyObject with If-None-Match: * onto an existing key answered %d, want 412", code)
		}
		if code := signedRequest(t, c, http.MethodPut, bucket, "c5", copyHeaders); code != http.StatusOK {
			t.Fatalf("CopyObject with If-None-Match: * onto a new key answered %d, want 200", code)
		}
		if readObject(t, c, bucket, "c5") != "copy me" {
			t.Fatal("the conditional copy did not copy")
		}
		st, err = cl.StatObject(ctx, bucket, "c2", minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		copyHeaders = http.Header{"X-Amz-Copy-Source": {"/" + bucket + "/c3"}, "If-Match": {`"0123456789abcdef0123456789abcdef"`}}
		if code := signedRequest(t, c, http.MethodPut, bucket, "c2", copyHeaders); code != http.StatusPreconditionFailed {
			t.Fatalf("CopyObject with a stale If-Match on the destination answered %d, want 412", code)
		}
		copyHeaders.Set("If-Match", st.ETag)
		if code := signedRequest(t, c, http.MethodPut, bucket, "c2", copyHeaders); code != http.StatusOK {
			t.Fatalf("CopyObject with the destination's If-Match answered %d, want 200", code)
		}
	})

	t.Run("DeleteIfMatch", func(t *testing.T) {
		info, err := put("d", "x", minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// minio-go's RemoveObject cannot send If-Match: a request signed
		// with its signer package can.
		code := signedRequest(t, c, http.MethodDelete, bucket, "d", http.Header{"If-Match": {`"0123456789abcdef0123456789abcdef"`}})
		if code != http.StatusPreconditionFailed {
			t.Fatalf("DELETE with a stale If-Match answered %d, want 412", code)
		}
		if readObject(t, c, bucket, "d") != "x" {
			t.Fatal("the refused delete removed the object")
		}
		code = signedRequest(t, c, http.MethodDelete, bucket, "d", http.Header{"If-Match": {`"` + strings.Trim(info.ETag, `"`) + `"`}})
		if code != http.StatusNoContent {
			t.Fatalf("DELETE with the current If-Match answered %d, want 204", code)
		}
		if _, err := cl.StatObject(ctx, bucket, "d", minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
			t.Fatalf("the object survived its delete: %v", err)
		}
	})

	t.Run("ConcurrentCreate", func(t *testing.T) {
		// Eight writers create one key at once with If-None-Match: *:
		// exactly one may win.
		const n = 8
		errs := make(chan error, n)
		start := make(chan struct{})
		for i := range n {
			go func() {
				<-start
				var o minio.PutObjectOptions
				o.SetMatchETagExcept("*")
				_, err := put("race", fmt.Sprintf("writer %d", i), o)
				errs <- err
			}()
		}
		close(start)
		won := 0
		for range n {
			err := <-errs
			switch {
			case err == nil:
				won++
			case minio.ToErrorResponse(err).StatusCode == http.StatusPreconditionFailed:
			default:
				t.Errorf("a racing create failed otherwise: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d of %d racing creates won, want exactly 1", won, n)
		}
	})

	t.Run("EmptyDirectoryMarker", func(t *testing.T) {
		if _, err := put("empty/", "", minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for o := range cl.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "empty", Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			keys = append(keys, o.Key)
		}
		if len(keys) != 1 || keys[0] != "empty/" {
			t.Fatalf("listing a directory marker gives %q, want [empty/]", keys)
		}
		// A marker beside a child, and the marker after its child goes.
		if _, err := put("full/", "", minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := put("full/f", "x", minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cl.RemoveObject(ctx, bucket, "full/f", minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		keys = nil
		for o := range cl.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "full", Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			keys = append(keys, o.Key)
		}
		t.Logf("after its only child is deleted, a marked directory lists as %q", keys)
	})

	t.Run("ListingOrder", func(t *testing.T) {
		keys := []string{"o/a-b", "o/a/b", "o/a.b", "o/a0", "o/B", "o/é", "o/z"}
		for _, k := range keys {
			if _, err := put(k, "x", minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		for o := range cl.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: "o/", Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			got = append(got, o.Key)
		}
		want := append([]string(nil), keys...)
		sort.Strings(want)
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("ListObjectsV2 order %q, want byte order %q", got, want)
		}
	})
}

func wantPrecondition(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded, want 412 Precondition Failed", what)
	}
	r := minio.ToErrorResponse(err)
	if r.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("%s: %v (status %d, code %s), want 412 Precondition Failed", what, err, r.StatusCode, r.Code)
	}
}

func readObject(t *testing.T, c *Cluster, bucket, key string) string {
	t.Helper()
	o, err := c.Client().GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("unable to read %s/%s: %v", bucket, key, err)
	}
	return string(b)
}

// signedRequest sends an empty-bodied request with headers, signed
// (SigV4) with the cluster's keys, and returns the status code.
func signedRequest(t *testing.T, c *Cluster, method, bucket, key string, headers http.Header) int {
	t.Helper()
	u := &url.URL{Scheme: "http", Host: c.Endpoint(), Path: "/" + bucket + "/" + key}
	req, err := http.NewRequest(method, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header[k] = v
	}
	req.Header.Set("X-Amz-Content-Sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
	req = signer.SignV4(*req, c.AccessKey(), c.SecretKey(), "", Region)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusPreconditionFailed {
		t.Logf("%s %s: %s %s", method, key, resp.Status, b)
	}
	return resp.StatusCode
}
