package remote_test

import (
	"bytes"
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/localfs"
	"github.com/ferry-sync/ferry/tree"
)

// progressSum adds up what a transfer reports: in place (all) and sent
// (not reused).
type progressSum struct {
	mu        sync.Mutex
	all, sent int64
}

func (p *progressSum) report(_ string, d int64, reused bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.all += d
	if !reused {
		p.sent += d
	}
}

// edited returns old with 64 KiB in the middle changed.
func edited(old []byte) []byte {
	b := bytes.Clone(old)
	for i := len(b) / 2; i < len(b)/2+64<<10; i++ {
		b[i] ^= 0x5a
	}
	return b
}

func listOf(t *testing.T, b []byte) chunk.List {
	t.Helper()
	c, ok := chunk.New(int64(len(b)), nil)
	if !ok {
		t.Fatalf("no chunk list for %d bytes", len(b))
	}
	c.Write(b)
	l, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// lyingSource gives list as every file's chunk list.
type lyingSource struct {
	endpoint.Endpoint
	list chunk.List
}

func (l lyingSource) Chunks(context.Context, string, tree.Entry) (chunk.List, error) {
	return l.list, nil
}

// Over the SSH stream an upload of a new version reads and sends only
// what the server's current version lacks; when the chunk list it sent
// lies (the old version's, so the server seeds all of it), the server's
// hash check fails and the file is sent again whole, and lands.
func TestStreamUploadSendsOnlyChangedChunksAndRetriesWhole(t *testing.T) {
	r := rng(t)
	e := newEnv(t, nil)
	ep := e.mustDial(nil)
	src := t.TempDir()
	const size = 4 << 20
	old := randomBytes(r, size)
	next := edited(old)
	serverOld := fileEntry(t, e.root, "f.bin", old)
	item := endpoint.Transfer{Source: fileEntry(t, src, "f.bin", next), Expect: serverOld}

	var read atomic.Int64
	var p progressSum
	noErrors(t, ep.Upload(context.Background(), []endpoint.Transfer{item}, countingSource{local(t, src), &read}, p.report))
	mustEqualFile(t, filepath.Join(e.root, "f.bin"), next, item.Source.Mtime)
	if read.Load() > size/4 || p.sent > size/4 || p.all != size {
		t.Fatalf("upload read %d bytes and reported %d sent, %d in place, of a %d-byte file with 64 KiB changed", read.Load(), p.sent, p.all, size)
	}

	again := edited(next)
	serverNext := fileEntry(t, e.root, "f.bin", next)
	item = endpoint.Transfer{Source: fileEntry(t, src, "f.bin", again), Expect: serverNext}
	p = progressSum{}
	noErrors(t, ep.Upload(context.Background(), []endpoint.Transfer{item}, lyingSource{local(t, src), listOf(t, next)}, p.report))
	mustEqualFile(t, filepath.Join(e.root, "f.bin"), again, item.Source.Mtime)
	if p.all != size || p.sent < size {
		t.Fatalf("retried upload reported %d in place and %d sent of a %d-byte file", p.all, p.sent, size)
	}
}

// corruptingDest spoils the first write into the next file it creates:
// the seeded chunks of a download.
type corruptingDest struct {
	*localfs.FS
	armed *atomic.Bool
}

type corruptingWriter struct {
	*localfs.Writer
	armed *atomic.Bool
}

func (c corruptingDest) CreateFile(ctx context.Context, meta, expect tree.Entry) (endpoint.FileWriter, error) {
	w, err := c.FS.CreateFile(ctx, meta, expect)
	if err != nil {
		return nil, err
	}
	return &corruptingWriter{w.(*localfs.Writer), c.armed}, nil
}

func (c *corruptingWriter) WriteAt(p []byte, off int64) (int, error) {
	if c.armed.CompareAndSwap(true, false) {
		p = bytes.Clone(p)
		p[0] ^= 1
	}
	return c.Writer.WriteAt(p, off)
}

// Over the SSH stream a download of a new version writes and fetches only
// what the local current version lacks; a seeded partial that does not
// verify is fetched again whole, and lands.
func TestStreamDownloadFetchesOnlyChangedChunksAndRetriesWhole(t *testing.T) {
	r := rng(t)
	e := newEnv(t, nil)
	ep := e.mustDial(nil)
	dst := t.TempDir()
	const size = 4 << 20
	old := randomBytes(r, size)
	next := edited(old)
	item := endpoint.Transfer{Source: fileEntry(t, e.root, "f.bin", next), Expect: fileEntry(t, dst, "f.bin", old)}

	var p progressSum
	noErrors(t, ep.Download(context.Background(), []endpoint.Transfer{item}, local(t, dst), p.report))
	mustEqualFile(t, filepath.Join(dst, "f.bin"), next, item.Source.Mtime)
	if p.sent > size/4 || p.all != size {
		t.Fatalf("download reported %d sent, %d in place, of a %d-byte file with 64 KiB changed", p.sent, p.all, size)
	}

	again := edited(next)
	item = endpoint.Transfer{Source: fileEntry(t, e.root, "f.bin", again), Expect: fileEntry(t, dst, "f.bin", next)}
	var armed atomic.Bool
	armed.Store(true)
	p = progressSum{}
	noErrors(t, ep.Download(context.Background(), []endpoint.Transfer{item}, corruptingDest{local(t, dst), &armed}, p.report))
	mustEqualFile(t, filepath.Join(dst, "f.bin"), again, item.Source.Mtime)
	if armed.Load() {
		t.Fatal("nothing was written into the seeded partial")
	}
	if p.all != size || p.sent < size {
		t.Fatalf("retried download reported %d in place and %d sent of a %d-byte file", p.all, p.sent, size)
	}
}
