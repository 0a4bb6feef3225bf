package remote_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/localfs"
	"github.com/ferry-sync/ferry/transport/remote"
	"github.com/ferry-sync/ferry/transport/server"
	"github.com/ferry-sync/ferry/tree"
)

var seedFlag = flag.Uint64("seed", 0, "random seed (0: from the clock)")

func rng(t *testing.T) *rand.Rand {
	s := *seedFlag
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed=%d)", s, s)
	return rand.New(rand.NewPCG(s, s+1))
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// fileEntry writes content to dir/p and returns the entry a scan would
// give for it.
func fileEntry(t *testing.T, dir, p string, content []byte) tree.Entry {
	t.Helper()
	full := filepath.Join(dir, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, content, 0o640); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(full)
	if err != nil {
		t.Fatal(err)
	}
	return tree.Entry{Path: p, Kind: tree.File, Size: int64(len(content)), Mtime: fi.ModTime().UnixNano(), Mode: 0o640, Hash: xxhash.Sum64(content)}
}

func local(t testing.TB, dir string) *localfs.FS {
	t.Helper()
	fs, err := localfs.New(dir, localfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	return fs
}

func mustEqualFile(t *testing.T, path string, want []byte, mtime int64) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, differs from the %d sent", path, len(got), len(want))
	}
	fi, _ := os.Lstat(path)
	if fi.Mode().Perm() != 0o640 || fi.ModTime().UnixNano() != mtime {
		t.Fatalf("%s: mode %v mtime %d, want 0640 %d", path, fi.Mode().Perm(), fi.ModTime().UnixNano(), mtime)
	}
}

func noErrors(t *testing.T, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
	}
}

func TestUploadAndDownloadManyFiles(t *testing.T) {
	r := rng(t)
	e := newEnv(t, nil)
	ep := e.mustDial(func(o *remote.Options) { o.Parallel = 3 })
	src := t.TempDir()
	var items []endpoint.Transfer
	contents := map[string][]byte{}
	for i := range 20 {
		p := filepath.ToSlash(filepath.Join("d"+string(rune('a'+i%3)), "f"+string(rune('a'+i))))
		c := randomBytes(r, r.IntN(600_000))
		contents[p] = c
		items = append(items, endpoint.Transfer{Source: fileEntry(t, src, p, c)})
	}
	for _, d := range []string{"da", "db", "dc"} {
		if err := ep.Mkdir(context.Background(), d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var moved atomic.Int64
	noErrors(t, ep.Upload(context.Background(), items, local(t, src), func(_ string, d int64, _ bool) { moved.Add(d) }))
	var total int64
	for _, it := range items {
		mustEqualFile(t, filepath.Join(e.root, it.Source.Path), contents[it.Source.Path], it.Source.Mtime)
		total += it.Source.Size
	}
	if moved.Load() != total {
		t.Fatalf("progress reported %d bytes, moved %d", moved.Load(), total)
	}

	// And back into an empty folder, using what the remote scan reports.
	dst := t.TempDir()
	var down []endpoint.Transfer
	err := ep.Scan(context.Background(), endpoint.ScanOptions{}, func(en tree.Entry) error {
		if en.Kind == tree.Dir {
			return os.Mkdir(filepath.Join(dst, en.Path), 0o755)
		}
		down = append(down, endpoint.Transfer{Source: en})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(down) != len(items) {
		t.Fatalf("remote scan lists %d files, uploaded %d", len(down), len(items))
	}
	noErrors(t, ep.Download(context.Background(), down, local(t, dst), nil))
	for _, it := range down {
		mustEqualFile(t, filepath.Join(dst, it.Source.Path), contents[it.Source.Path], it.Source.Mtime)
	}
}

// countingSource counts the bytes read from a source endpoint.
type countingSource struct {
	endpoint.Endpoint
	n *atomic.Int64
}

func (c countingSource) OpenFile(ctx context.Context, p string) (endpoint.FileReader, error) {
	r, err := c.Endpoint.OpenFile(ctx, p)
	if err != nil {
		return nil, err
	}
	return countingReader{r, c.n}, nil
}

type countingReader struct {
	endpoint.FileReader
	n *atomic.Int64
}

func (c countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.FileReader.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

func TestUploadResumesAfterServerKilledMidTransfer(t *testing.T) {
	r := rng(t)
	e := newEnv(t, nil)
	ep := e.mustDial(nil)
	src := t.TempDir()
	content := randomBytes(r, 24<<20)
	item := endpoint.Transfer{Source: fileEntry(t, src, "big.bin", content)}

	var moved atomic.Int64
	var once sync.Once
	kill := func(_ string, d int64, _ bool) {
		if moved.Add(d) > 6<<20 {
			once.Do(e.stop) // synchronous: nothing more reaches the server
		}
	}
	errs := ep.Upload(context.Background(), []endpoint.Transfer{item}, local(t, src), kill)
	if errs[0] == nil {
		t.Fatal("upload survived the server being killed")
	}
	if !errors.Is(errs[0], remote.ErrDisconnected) {
		t.Fatalf("upload error %v does not wrap ErrDisconnected (retryable)", errs[0])
	}
	if _, err := os.Lstat(filepath.Join(e.root, "big.bin")); err == nil {
		t.Fatal("a partial upload appeared under the final name")
	}
	partial, err := os.Stat(filepath.Join(e.root, "big.bin"+tree.DefaultPartialSuffix))
	if err != nil || partial.Size() == 0 {
		t.Fatalf("no partial file kept for a resume: %v", err)
	}

	e.start()
	var read atomic.Int64
	noErrors(t, ep.Upload(context.Background(), []endpoint.Transfer{item}, countingSource{local(t, src), &read}, nil))
	mustEqualFile(t, filepath.Join(e.root, "big.bin"), content, item.Source.Mtime)
	if sent := read.Load(); sent > int64(len(content))-partial.Size() {
		t.Fatalf("second attempt read %d bytes; with %d already on the server it should read at most %d",
			sent, partial.Size(), int64(len(content))-partial.Size())
	}
	t.Logf("resumed after %d of %d bytes", partial.Size(), len(content))
}

// countingDest counts bytes written into files created on a local folder,
// keeping localfs's resume methods visible.
type countingDest struct {
	*localfs.FS
	n *atomic.Int64
}

type countingWriter struct {
	*localfs.Writer
	n *atomic.Int64
}

func (c countingDest) CreateFile(ctx context.Context, meta, expect tree.Entry) (endpoint.FileWriter, error) {
	w, err := c.FS.CreateFile(ctx, meta, expect)
	if err != nil {
		return nil, err
	}
	return countingWriter{w.(*localfs.Writer), c.n}, nil
}

func (c countingWriter) WriteAt(p []byte, off int64) (int, error) {
	c.n.Add(int64(len(p)))
	return c.Writer.WriteAt(p, off)
}

func TestDownloadResumesAfterServerKilledMidTransfer(t *testing.T) {
	r := rng(t)
	e := newEnv(t, nil)
	ep := e.mustDial(nil)
	content := randomBytes(r, 24<<20)
	item := endpoint.Transfer{Source: fileEntry(t, e.root, "big.bin", content)}
	dst := t.TempDir()

	var moved atomic.Int64
	var once sync.Once
	kill := func(_ string, d int64, _ bool) {
		if moved.Add(d) > 6<<20 {
			once.Do(e.stop)
		}
	}
	errs := ep.Download(context.Background(), []endpoint.Transfer{item}, local(t, dst), kill)
	if !errors.Is(errs[0], remote.ErrDisconnected) {
		t.Fatalf("download error %v, want one wrapping ErrDisconnected", errs[0])
	}
	partial, err := os.Stat(filepath.Join(dst, "big.bin"+tree.DefaultPartialSuffix))
	if err != nil || partial.Size() == 0 {
		t.Fatalf("no partial file kept for a resume: %v", err)
	}

	e.start()
	var written atomic.Int64
	noErrors(t, ep.Download(context.Background(), []endpoint.Transfer{item}, countingDest{local(t, dst), &written}, nil))
	mustEqualFile(t, filepath.Join(dst, "big.bin"), content, item.Source.Mtime)
	if got, max := written.Load(), int64(len(content))-partial.Size(); got > max {
		t.Fatalf("second attempt wrote %d bytes; with %d already here it should write at most %d", got, partial.Size(), max)
	}
}

// A partial whose checkpoint claims the right content but whose bytes are
// wrong (a crash that lost cached writes) must not make the transfer fail
// forever: the resumed attempt fails its hash check and one fresh attempt
// follows.
func TestCorruptPartialIsResentFromTheStart(t *testing.T) {
	r := rng(t)
	e := newEnv(t, nil)
	ep := e.mustDial(nil)
	src := t.TempDir()
	content := randomBytes(r, 3<<20)
	item := endpoint.Transfer{Source: fileEntry(t, src, "f.bin", content)}
	partial := filepath.Join(e.root, "f.bin"+tree.DefaultPartialSuffix)
	if err := os.WriteFile(partial, randomBytes(r, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(partial+tree.CheckpointSuffix, remote.ResumeKey(item.Source), 0o600); err != nil {
		t.Fatal(err)
	}
	noErrors(t, ep.Upload(context.Background(), []endpoint.Transfer{item}, local(t, src), nil))
	mustEqualFile(t, filepath.Join(e.root, "f.bin"), content, item.Source.Mtime)
}

func TestLostConnectionIsTypedAndRedialed(t *testing.T) {
	e := newEnv(t, nil)
	ep := e.mustDial(nil)
	if err := os.WriteFile(filepath.Join(e.root, "x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.stop()
	if _, err := ep.Stat(context.Background(), "x"); !errors.Is(err, remote.ErrDisconnected) {
		t.Fatalf("Stat with the server down: %v, want ErrDisconnected", err)
	}
	e.start()
	en, err := ep.Stat(context.Background(), "x")
	if err != nil || en.Size != 1 {
		t.Fatalf("Stat after the server came back: %+v %v", en, err)
	}
}

func TestServerRateCapIsAnnounced(t *testing.T) {
	e := newEnv(t, func(c *server.Config) { c.TotalRate = 50_000_000 })
	ep := e.mustDial(nil)
	if got := ep.RateCap(); got != 50_000_000 {
		t.Fatalf("RateCap %d, want the server's 50 Mbit/s", got)
	}
}

func TestMissingRemoteFolderIsAClearError(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.dial(func(o *remote.Options) { o.Path = "/nope" })
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dial to a missing folder: %v, want ErrNotExist", err)
	}
}
