package s3fs

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/minio/minio-go/v7"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// nodeTests are the cases of several nodes over one bucket, run on the
// fake and on SeaweedFS. strict says the store honours conditional writes
// (If-None-Match, If-Match) on PutObject and CompleteMultipartUpload; the
// fake's gaps are skipped with the reason, a real store's fail.
func nodeTests(t *testing.T, s store, strict bool) {
	t.Run("ConcurrentCreateOneWins", func(t *testing.T) { testConcurrentCreate(t, s, strict, 100) })
	t.Run("ConcurrentCreateOneWinsMultipart", func(t *testing.T) { testConcurrentCreate(t, s, strict, 9<<20) })
	t.Run("OverwriteStaleExpect", func(t *testing.T) { testOverwriteStale(t, s, strict) })
	t.Run("RemoveInTheWindow", func(t *testing.T) { testRemoveInTheWindow(t, s, strict) })
	t.Run("RenameOntoNameTakenInTheWindow", func(t *testing.T) { testRenameTakenInTheWindow(t, s, strict) })
	t.Run("ResumeOnAnotherNode", func(t *testing.T) { testResumeOnAnotherNode(t, s) })
	t.Run("DeltaCopiesUnchangedParts", func(t *testing.T) { testDeltaCopiesUnchangedParts(t, s, strict) })
	t.Run("HashMismatchDropsUpload", func(t *testing.T) { testHashMismatchDropsUpload(t, s) })
	t.Run("ObjectAlsoDirectory", func(t *testing.T) { testObjectAlsoDirectory(t, s) })
	t.Run("ForeignObjectHashedOnce", func(t *testing.T) { testForeignObjectHashedOnce(t, s) })
}

func randomBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func fileMeta(p string, content []byte) tree.Entry {
	return tree.Entry{Path: p, Kind: tree.File, Size: int64(len(content)), Mode: 0o644, Mtime: 1_700_000_000_000_000_000, Hash: xxhash.Sum64(content)}
}

func writeAll(t *testing.T, f *FS, meta, expect tree.Entry, content []byte) endpoint.FileWriter {
	t.Helper()
	w, err := f.CreateFile(context.Background(), meta, expect)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(content, 0); err != nil {
		t.Fatal(err)
	}
	return w
}

func readObject(t *testing.T, s store, key string) []byte {
	t.Helper()
	o, err := s.client(t).GetObject(context.Background(), s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(o); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testConcurrentCreate: two nodes create one new path; the second's check
// of the destination passes (nothing is there yet), then the first
// commits in the window before the second's conditional write. Exactly
// one wins; the other gets ErrChanged and the winner's content stays.
func testConcurrentCreate(t *testing.T, s store, strict bool, size int) {
	prefix := "race" + t.Name()[len(t.Name())-9:]
	a, b := s.open(t, prefix, nil), s.open(t, prefix, nil)
	ca, cb := randomBytes(1, size), randomBytes(2, size)
	wa := writeAll(t, a, fileMeta("f", ca), tree.Entry{}, ca)
	wb := writeAll(t, b, fileMeta("f", cb), tree.Entry{}, cb)
	var errA error
	b.beforeWrite = func(string) { errA = wa.Commit() }
	errB := wb.Commit()
	if errA != nil {
		t.Fatalf("first commit: %v", errA)
	}
	if errB == nil && !strict {
		t.Skip("the fake ignores If-None-Match here: the second commit overwrote the first")
	}
	if !errors.Is(errB, endpoint.ErrChanged) {
		t.Fatalf("second commit of a path created meanwhile: %v, want ErrChanged", errB)
	}
	if got := readObject(t, s, prefix+"/f"); !bytes.Equal(got, ca) {
		t.Fatalf("the object holds %d bytes, not the winner's", len(got))
	}
}

// testOverwriteStale: a node overwrites a file it scanned; another node
// rewrote it first, either before the check (caught by the ETag identity)
// or in the window after it (caught by If-Match).
func testOverwriteStale(t *testing.T, s store, strict bool) {
	ctx := context.Background()
	a, b := s.open(t, "stale", nil), s.open(t, "stale", nil)
	old, mine, theirs, later := []byte("old"), []byte("mine"), []byte("thrs"), []byte("late")
	writeAll(t, a, fileMeta("f", old), tree.Entry{}, old).Commit()
	seen, err := a.Stat(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	// Same size and mtime: only the ETag tells the two apart.
	if err := writeAll(t, b, fileMeta("f", theirs), seen, theirs).Commit(); err != nil {
		t.Fatalf("other node's overwrite: %v", err)
	}
	if err := writeAll(t, a, fileMeta("f", mine), seen, mine).Commit(); !errors.Is(err, endpoint.ErrChanged) {
		t.Fatalf("overwrite with a stale expect: %v, want ErrChanged", err)
	}
	if got := readObject(t, s, "stale/f"); !bytes.Equal(got, theirs) {
		t.Fatalf("object holds %q, want the other node's %q", got, theirs)
	}
	seen, err = a.Stat(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	w := writeAll(t, a, fileMeta("f", mine), seen, mine)
	a.beforeWrite = func(string) {
		if err := writeAll(t, b, fileMeta("f", later), seen, later).Commit(); err != nil {
			t.Errorf("other node's overwrite in the window: %v", err)
		}
	}
	err = w.Commit()
	if err == nil && !strict {
		t.Skip("the fake ignores If-Match here")
	}
	if !errors.Is(err, endpoint.ErrChanged) {
		t.Fatalf("overwrite after another node's write in the window: %v, want ErrChanged", err)
	}
	if got := readObject(t, s, "stale/f"); !bytes.Equal(got, later) {
		t.Fatalf("object holds %q, want %q", got, later)
	}
}

// testResumeOnAnotherNode: a node receives 12 MiB of a 20 MiB file and
// stops (Abort, as when its link drops; a killed node leaves the same
// upload). Another node, with an empty cache, resumes from the 8 MiB part
// uploaded and sends only the missing 12 MiB to the store.
func testResumeOnAnotherNode(t *testing.T, s store) {
	content := randomBytes(3, 20<<20)
	meta := fileMeta("big", content)
	ca, cb := newCounter(), newCounter()
	a, b := s.open(t, "resume", ca), s.open(t, "resume", cb)
	w, err := a.CreateFile(context.Background(), meta, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	// Out of order: the second half first, so the first part completes
	// only when its start arrives.
	if _, err := w.WriteAt(content[4<<20:12<<20], 4<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(content[:4<<20], 0); err != nil {
		t.Fatal(err)
	}
	if n, by := ca.get("UploadPart"); n != 1 || by != 8<<20 {
		t.Fatalf("first node uploaded %d parts, %d bytes; want 1 part of 8 MiB", n, by)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	w, err = b.CreateFile(context.Background(), meta, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	off := w.(endpoint.Resumable).ExistingSize()
	if off != 8<<20 {
		t.Fatalf("other node: ExistingSize %d, want %d (the uploaded part)", off, 8<<20)
	}
	if _, err := w.WriteAt(content[off:], off); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("commit on the other node: %v", err)
	}
	n, by := cb.get("UploadPart")
	if n != 2 || by != 12<<20 {
		t.Fatalf("other node uploaded %d parts, %d bytes; want 2 parts, 12 MiB", n, by)
	}
	if got := readObject(t, s, "resume/big"); !bytes.Equal(got, content) {
		t.Fatalf("resumed object differs (%d bytes)", len(got))
	}
	e, err := b.Stat(context.Background(), "big")
	if err != nil || e.Mtime != meta.Mtime || e.Size != meta.Size {
		t.Fatalf("resumed object: %+v, %v", e, err)
	}
	var left []string
	for o := range s.client(t).ListObjects(context.Background(), s.bucket, minio.ListObjectsOptions{Prefix: "resume/", Recursive: true}) {
		left = append(left, o.Key)
	}
	if len(left) != 1 {
		t.Fatalf("bucket holds %q after the commit, want only the file", left)
	}
}

// testForeignObjectHashedOnce: an object another tool uploaded (no ferry
// metadata) is read once to hash it; a scan of the unchanged bucket after
// that reads no body and asks for no metadata.
func testForeignObjectHashedOnce(t *testing.T, s store) {
	ctx := context.Background()
	body := []byte("uploaded by another tool")
	if _, err := s.client(t).PutObject(ctx, s.bucket, "foreign/x", bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{DisableContentSha256: true}); err != nil {
		t.Fatal(err)
	}
	c := newCounter()
	f := s.open(t, "foreign", c)
	scan := func() []tree.Entry {
		var got []tree.Entry
		if err := f.Scan(ctx, endpoint.ScanOptions{}, func(e tree.Entry) error { got = append(got, e); return nil }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	first := scan()
	if len(first) != 1 || first[0].Hash != xxhash.Sum64(body) {
		t.Fatalf("first scan: %+v, want x hashed %x", first, xxhash.Sum64(body))
	}
	gets, _ := c.get("GET")
	heads, _ := c.get("HEAD")
	second := scan()
	if len(second) != 1 || second[0] != first[0] {
		t.Fatalf("second scan: %+v, want %+v", second, first)
	}
	g2, _ := c.get("GET")
	h2, _ := c.get("HEAD")
	// One GET is the listing itself.
	if g2-gets != 1 || h2 != heads {
		t.Fatalf("a scan of an unchanged bucket made %d GETs and %d HEADs, want only the listing", g2-gets, h2-heads)
	}
	// Rewritten by the other tool: hashed again, and the old version's
	// record is dropped, so the cache holds one record per object.
	body = []byte("rewritten by another tool")
	if _, err := s.client(t).PutObject(ctx, s.bucket, "foreign/x", bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{DisableContentSha256: true}); err != nil {
		t.Fatal(err)
	}
	if third := scan(); len(third) != 1 || third[0].Hash != xxhash.Sum64(body) {
		t.Fatalf("scan after a rewrite: %+v, want x hashed %x", third, xxhash.Sum64(body))
	}
	if ents, err := os.ReadDir(filepath.Join(f.cache, "scan")); err != nil || len(ents) != 1 {
		t.Fatalf("scan cache holds %d records (%v), want 1", len(ents), err)
	}
}

// testRemoveInTheWindow: a node removes a file it checked; another node
// rewrote it (same size and mtime) between the check and the delete. The
// delete is conditional on the ETag checked: ErrChanged, the rewrite
// stays.
func testRemoveInTheWindow(t *testing.T, s store, strict bool) {
	ctx := context.Background()
	a, b := s.open(t, "rm", nil), s.open(t, "rm", nil)
	old, theirs := []byte("old"), []byte("new")
	if err := writeAll(t, a, fileMeta("f", old), tree.Entry{}, old).Commit(); err != nil {
		t.Fatal(err)
	}
	seen, err := a.Stat(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	a.beforeWrite = func(string) {
		if err := writeAll(t, b, fileMeta("f", theirs), seen, theirs).Commit(); err != nil {
			t.Errorf("other node's overwrite in the window: %v", err)
		}
	}
	err = a.Remove(ctx, "f", seen)
	if err == nil && !strict {
		t.Skip("the fake ignores If-Match on DELETE")
	}
	if !errors.Is(err, endpoint.ErrChanged) {
		t.Fatalf("remove after another node's write in the window: %v, want ErrChanged", err)
	}
	if got := readObject(t, s, "rm/f"); !bytes.Equal(got, theirs) {
		t.Fatalf("object holds %q, want %q", got, theirs)
	}
}

// testDeltaCopiesUnchangedParts: a new version of a 20 MiB file with 1,000
// bytes inserted at 1 MiB is built as the engine builds it
// (endpoint.SeedFrom from the current version, then the rest). The first
// part holds the edit and is uploaded; the two after it are the current
// version's bytes at a shift of 1,000 and go as UploadPartCopy, never
// through the node to the store.
func testDeltaCopiesUnchangedParts(t *testing.T, s store, strict bool) {
	ctx := context.Background()
	old := randomBytes(4, 20<<20)
	next := append(append(append([]byte(nil), old[:1<<20]...), randomBytes(5, 1000)...), old[1<<20:]...)
	c := newCounter()
	f := s.open(t, "delta", c)
	if err := writeAll(t, f, fileMeta("big", old), tree.Entry{}, old).Commit(); err != nil {
		t.Fatal(err)
	}
	base, err := f.Stat(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	base.Hash = xxhash.Sum64(old)
	ch, _ := chunk.New(int64(len(next)), nil)
	ch.Write(next)
	nl, err := ch.List()
	if err != nil {
		t.Fatal(err)
	}
	_, before := c.get("UploadPart")
	w, err := f.CreateFile(ctx, fileMeta("big", next), base)
	if err != nil {
		t.Fatal(err)
	}
	held, err := endpoint.SeedFrom(ctx, f, base, w, nl)
	if err != nil {
		t.Fatal(err)
	}
	if chunk.Bytes(held) < int64(len(old))-(1<<20) {
		t.Fatalf("the seed held %d bytes of the current version, want most of it", chunk.Bytes(held))
	}
	for at, i := int64(0), 0; at < int64(len(next)); {
		end := int64(len(next))
		if i < len(held) {
			end = held[i].Off
		}
		if end > at {
			if _, err := w.WriteAt(next[at:end], at); err != nil {
				t.Fatal(err)
			}
		}
		if i == len(held) {
			break
		}
		at = held[i].Off + held[i].Len
		i++
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("commit of the new version: %v", err)
	}
	if got := readObject(t, s, "delta/big"); !bytes.Equal(got, next) {
		t.Fatalf("new version differs (%d bytes)", len(got))
	}
	_, after := c.get("UploadPart")
	copies, _ := c.get("UploadPartCopy")
	sent := after - before
	if sent == int64(len(next)) && !strict {
		t.Skipf("the fake has no UploadPartCopy (%d tried): every part was uploaded", copies)
	}
	if sent != 8<<20 || copies != 2 {
		t.Fatalf("the new version sent %d bytes to the store and copied %d parts; want 8 MiB sent (the edited part), 2 copied", sent, copies)
	}
}

// testHashMismatchDropsUpload: content that does not hash to what was
// announced never lands, and leaves no upload or sidecar to resume from.
func testHashMismatchDropsUpload(t *testing.T, s store) {
	ctx := context.Background()
	f := s.open(t, "mismatch", nil)
	content := randomBytes(6, 9<<20)
	meta := fileMeta("big", content)
	meta.Hash++
	err := writeAll(t, f, meta, tree.Entry{}, content).Commit()
	if !errors.Is(err, endpoint.ErrHashMismatch) {
		t.Fatalf("commit of content with another hash: %v, want ErrHashMismatch", err)
	}
	for o := range s.client(t).ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: "mismatch/", Recursive: true}) {
		t.Errorf("left in the bucket: %s %v", o.Key, o.Err)
	}
	for u := range s.client(t).ListIncompleteUploads(ctx, s.bucket, "mismatch/", true) {
		if u.Err == nil {
			t.Errorf("upload left for %s", u.Key)
		}
	}
}

// testObjectAlsoDirectory: another tool made "f" an object and a prefix
// ("f/x"). The scan reports f with a problem and nothing below it, so the
// engine touches neither.
func testObjectAlsoDirectory(t *testing.T, s store) {
	ctx := context.Background()
	for _, k := range []string{"both/f", "both/f/x", "both/g"} {
		if _, err := s.client(t).PutObject(ctx, s.bucket, k, bytes.NewReader([]byte(k)), int64(len(k)),
			minio.PutObjectOptions{DisableContentSha256: true}); err != nil {
			t.Fatal(err)
		}
	}
	f := s.open(t, "both", nil)
	var got []tree.Entry
	if err := f.Scan(ctx, endpoint.ScanOptions{}, func(e tree.Entry) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Path != "f" || got[0].Problem == "" || got[1].Path != "g" || got[1].Problem != "" {
		t.Fatalf("scan gave %+v, want f with a problem, then g", got)
	}
}

// testRenameTakenInTheWindow: another node creates the destination of a
// rename after its check: the copy is conditional on the destination's
// absence, so the rename never overwrites it (ErrExists) and the source
// stays.
func testRenameTakenInTheWindow(t *testing.T, s store, strict bool) {
	ctx := context.Background()
	a, b := s.open(t, "mv", nil), s.open(t, "mv", nil)
	mine, theirs := []byte("mine"), []byte("theirs")
	if err := writeAll(t, a, fileMeta("f", mine), tree.Entry{}, mine).Commit(); err != nil {
		t.Fatal(err)
	}
	seen, err := a.Stat(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	a.beforeWrite = func(p string) {
		if p == "g" {
			if err := writeAll(t, b, fileMeta("g", theirs), tree.Entry{}, theirs).Commit(); err != nil {
				t.Errorf("other node's create in the window: %v", err)
			}
		}
	}
	err = a.Rename(ctx, "f", "g", seen)
	if err == nil && !strict {
		t.Skip("the fake ignores If-None-Match on CopyObject")
	}
	if !errors.Is(err, endpoint.ErrExists) {
		t.Fatalf("rename onto a name taken in the window: %v, want ErrExists", err)
	}
	if got := readObject(t, s, "mv/g"); !bytes.Equal(got, theirs) {
		t.Fatalf("destination holds %q, want %q", got, theirs)
	}
	if got := readObject(t, s, "mv/f"); !bytes.Equal(got, mine) {
		t.Fatalf("source holds %q, want %q", got, mine)
	}
}
