package localfs

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/endpoint/endpointtest"
	"github.com/ferry-sync/ferry/tree"
)

func newFS(t testing.TB, root string, opts Options) *FS {
	t.Helper()
	if opts.HashWorkers == 0 {
		opts.HashWorkers = 2
	}
	f, err := New(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestConformance(t *testing.T) {
	endpointtest.Run(t, func(t *testing.T) (endpoint.Endpoint, string) {
		root := t.TempDir()
		return newFS(t, root, Options{Cache: newMemCache(), Chunks: newMemChunks()}), root
	})
}

func TestConformanceOneWorkerNoCache(t *testing.T) {
	endpointtest.Run(t, func(t *testing.T) (endpoint.Endpoint, string) {
		root := t.TempDir()
		return newFS(t, root, Options{HashWorkers: 1}), root
	})
}

func TestNewRejectsMissingFolder(t *testing.T) {
	if _, err := New(filepath.Join(t.TempDir(), "missing"), Options{}); err == nil {
		t.Fatal("New on a missing folder succeeded")
	}
}

// memCache is a Cache that counts its calls.
type memCache struct {
	mu      sync.Mutex
	m       map[string]tree.Entry
	lookups int
	stores  int
	learned int
}

func newMemCache() *memCache { return &memCache{m: map[string]tree.Entry{}} }

func (c *memCache) Lookup(p string) (tree.Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lookups++
	e, ok := c.m[p]
	return e, ok
}

func (c *memCache) Store(e tree.Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stores++
	// As snapshot.Cache: every entry is stored, only hashed files kept.
	if e.Kind == tree.File && e.Hash != 0 && e.Problem == "" {
		c.m[e.Path] = e
	} else {
		delete(c.m, e.Path)
	}
}

func (c *memCache) Scope(tree.Scope) {}

func (c *memCache) Scanned() {}

func (c *memCache) Learn(e tree.Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.learned++
	c.m[e.Path] = e
}

func scanAll(t testing.TB, f *FS) []tree.Entry {
	t.Helper()
	var got []tree.Entry
	if err := f.Scan(context.Background(), endpoint.ScanOptions{}, func(e tree.Entry) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return got
}

// countHashes makes f count the files whose content it reads.
func countHashes(f *FS) *atomic.Int64 {
	var n atomic.Int64
	f.afterHash = func(string) { n.Add(1) }
	return &n
}

func TestScanReusesCache(t *testing.T) {
	root := t.TempDir()
	endpointtest.Build(t, root, endpointtest.Dir{"a": "aaa", "d/b": "bbb", "d/c": "ccc", "l": endpointtest.Link("a")})
	cache := newMemCache()
	f := newFS(t, root, Options{Cache: cache})
	defer f.Close()
	hashed := countHashes(f)

	first := scanAll(t, f)
	if hashed.Load() != 3 {
		t.Fatalf("first scan read %d files, want 3", hashed.Load())
	}
	if cache.stores != len(first) {
		t.Fatalf("first scan stored %d entries, emitted %d", cache.stores, len(first))
	}

	hashed.Store(0)
	second := scanAll(t, f)
	if hashed.Load() != 0 {
		t.Fatalf("unchanged rescan read %d files, want 0 (cache not reused)", hashed.Load())
	}
	if !slices.Equal(first, second) {
		t.Fatalf("rescan from cache differs:\n%+v\n%+v", first, second)
	}

	// A content change moves the mtime; a chmod changes the mode. Each
	// forces exactly that file to be read again.
	later := time.Now().Add(time.Hour)
	if err := os.WriteFile(filepath.Join(root, "d/b"), []byte("BBBB"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(filepath.Join(root, "d/b"), later, later)
	if err := os.Chmod(filepath.Join(root, "d/c"), 0o600); err != nil {
		t.Fatal(err)
	}
	hashed.Store(0)
	m := map[string]tree.Entry{}
	for _, e := range scanAll(t, f) {
		m[e.Path] = e
	}
	if hashed.Load() != 2 {
		t.Fatalf("rescan after changing 2 files read %d, want 2", hashed.Load())
	}
	if m["d/b"].Hash != xxhash.Sum64String("BBBB") || m["d/c"].Hash != xxhash.Sum64String("ccc") {
		t.Fatalf("rescan hashes wrong: %+v %+v", m["d/b"], m["d/c"])
	}
}

func TestScanIgnoresUnusableCacheEntries(t *testing.T) {
	root := t.TempDir()
	endpointtest.Build(t, root, endpointtest.Dir{"a": "aaa"})
	fi, err := os.Lstat(filepath.Join(root, "a"))
	if err != nil {
		t.Fatal(err)
	}
	cur := entryOf("a", fi)
	for _, bad := range []tree.Entry{
		{Hash: 0},
		{Hash: 42, Problem: "changed while hashing"},
		{Hash: 42, Ino: cur.Ino + 1},
		{Hash: 42, Kind: tree.Symlink},
	} {
		c := cur
		c.Hash, c.Problem = bad.Hash, bad.Problem
		if bad.Ino != 0 {
			c.Ino = bad.Ino
		}
		if bad.Kind != tree.Absent {
			c.Kind = bad.Kind
		}
		cache := newMemCache()
		cache.m["a"] = c
		f := newFS(t, root, Options{Cache: cache})
		got := scanAll(t, f)
		f.Close()
		if len(got) != 1 || got[0].Hash != xxhash.Sum64String("aaa") {
			t.Fatalf("cache entry %+v was trusted: scan gave %+v", c, got)
		}
	}
}

func TestScanRehashesFileChangedWhileHashing(t *testing.T) {
	root := t.TempDir()
	endpointtest.Build(t, root, endpointtest.Dir{"a": "first", "b": "steady"})
	cache := newMemCache()
	f := newFS(t, root, Options{Cache: cache})
	defer f.Close()
	var calls atomic.Int64
	f.afterHash = func(p string) {
		// Rewrite a the first time it is read, with the same size and a
		// restored mtime: only the ctime and content tell.
		if p == "a" && calls.Add(1) == 1 {
			fi, _ := os.Lstat(filepath.Join(root, "a"))
			os.WriteFile(filepath.Join(root, "a"), []byte("FIRST"), 0o644)
			os.Chtimes(filepath.Join(root, "a"), fi.ModTime(), fi.ModTime())
		}
	}
	got := scanAll(t, f)
	if calls.Load() != 2 {
		t.Fatalf("a was read %d times, want 2 (one retry)", calls.Load())
	}
	if got[0].Problem != "" || got[0].Hash != xxhash.Sum64String("FIRST") {
		t.Fatalf("a after a retry: %+v, want the new content's hash", got[0])
	}
	if c := cache.m["a"]; c.Hash != xxhash.Sum64String("FIRST") {
		t.Fatalf("cache holds %+v", c)
	}
}

func TestScanReportsFileThatKeepsChanging(t *testing.T) {
	root := t.TempDir()
	endpointtest.Build(t, root, endpointtest.Dir{"a": "0", "b": "steady"})
	cache := newMemCache()
	f := newFS(t, root, Options{Cache: cache})
	defer f.Close()
	var calls atomic.Int64
	f.afterHash = func(p string) {
		if p == "a" {
			n := calls.Add(1)
			os.WriteFile(filepath.Join(root, "a"), []byte(fmt.Sprint(n)), 0o644)
		}
	}
	got := scanAll(t, f)
	if calls.Load() != hashAttempts {
		t.Fatalf("a was read %d times, want %d", calls.Load(), hashAttempts)
	}
	if len(got) != 2 || got[0].Path != "a" || got[0].Problem != problemChanged || got[0].Hash != 0 {
		t.Fatalf("scan gave %+v, want a with problem %q", got, problemChanged)
	}
	if _, ok := cache.m["a"]; ok {
		t.Fatal("a file that kept changing was stored in the cache")
	}
	if got[1].Problem != "" || cache.m["b"].Hash != xxhash.Sum64String("steady") {
		t.Fatalf("steady neighbour affected: %+v", got[1])
	}
}

func TestCreateFileChecksFreeSpace(t *testing.T) {
	root := t.TempDir()
	f := newFS(t, root, Options{})
	resumable(f) // small files, received as partials here
	defer f.Close()
	free := uint64(100)
	f.freeSpace = func() (endpoint.Space, error) { return endpoint.Space{Free: free, Total: 1000}, nil }
	// Readings are trusted for spaceRefresh: each change of free below
	// moves the clock past it.
	clock := time.Unix(0, 0)
	f.space.now = func() time.Time { return clock }
	ctx := context.Background()

	if _, err := f.CreateFile(ctx, tree.Entry{Path: "f", Kind: tree.File, Size: 101}, tree.Entry{}); !errors.Is(err, endpoint.ErrNoSpace) {
		t.Fatalf("101 bytes into 100 free: %v, want ErrNoSpace", err)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Fatalf("ErrNoSpace left %v", ents)
	}
	w, err := f.CreateFile(ctx, tree.Entry{Path: "f", Kind: tree.File, Size: 100}, tree.Entry{})
	if err != nil {
		t.Fatalf("100 bytes into 100 free: %v", err)
	}
	w.WriteAt(make([]byte, 60), 0)
	w.Abort()
	// Resuming needs only the 40 missing bytes.
	free, clock = 40, clock.Add(spaceRefresh)
	w, err = f.CreateFile(ctx, tree.Entry{Path: "f", Kind: tree.File, Size: 100}, tree.Entry{})
	if err != nil {
		t.Fatalf("resume needing 40 bytes with 40 free: %v", err)
	}
	if w.(*Writer).ExistingSize() != 60 {
		t.Fatalf("ExistingSize = %d, want 60", w.(*Writer).ExistingSize())
	}
	w.Abort()
	free, clock = 39, clock.Add(spaceRefresh)
	if _, err := f.CreateFile(ctx, tree.Entry{Path: "f", Kind: tree.File, Size: 100}, tree.Entry{}); !errors.Is(err, endpoint.ErrNoSpace) {
		t.Fatalf("resume needing 40 bytes with 39 free: %v, want ErrNoSpace", err)
	}
}

func TestCheckpoint(t *testing.T) {
	root := t.TempDir()
	f := newFS(t, root, Options{})
	resumable(f) // small files, received as partials here
	defer f.Close()
	ctx := context.Background()
	meta := tree.Entry{Path: "f", Kind: tree.File, Size: 4, Mode: 0o644, Hash: xxhash.Sum64String("abcd")}
	ckpt := filepath.Join(root, "f.partial.ferry-ckpt")

	// A checkpoint with no partial beside it is stale and dropped.
	os.WriteFile(ckpt, []byte("stale"), 0o600)
	fw, err := f.CreateFile(ctx, meta, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	w := fw.(*Writer)
	if data, err := w.LoadCheckpoint(); err != nil || data != nil {
		t.Fatalf("LoadCheckpoint with a stale file: %q %v, want nothing", data, err)
	}
	w.WriteAt([]byte("ab"), 0)
	if err := w.SaveCheckpoint([]byte("have 0-2")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(ckpt); string(b) != "have 0-2" {
		t.Fatalf("checkpoint on disk reads %q", b)
	}
	w.Abort()

	fw, err = f.CreateFile(ctx, meta, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	w = fw.(*Writer)
	if data, err := w.LoadCheckpoint(); err != nil || string(data) != "have 0-2" {
		t.Fatalf("LoadCheckpoint after resume: %q %v", data, err)
	}
	buf := make([]byte, 2)
	if n, err := w.ReadAt(buf, 0); n != 2 || err != nil || string(buf) != "ab" {
		t.Fatalf("ReadAt of the partial: %d %v %q", n, err, buf)
	}
	w.WriteAt([]byte("cd"), 2)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(ckpt); !os.IsNotExist(err) {
		t.Fatalf("checkpoint survived Commit: %v", err)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 1 {
		t.Fatalf("leftovers after Commit: %v", ents)
	}
}

// TestPartialLinkIsNotWrittenThrough: a link at ferry's partial name (its
// marker beside it) is replaced, never written through.
func TestPartialLinkIsNotWrittenThrough(t *testing.T) {
	root := t.TempDir()
	endpointtest.Build(t, root, endpointtest.Dir{
		"victim":    "do not touch",
		"f.partial": endpointtest.Link("victim"),
		"other":     "also not",
		// Ferry's markers: the names are ferry's, what is at them is not.
		"f.partial" + tree.CheckpointSuffix: "",
		"g.partial" + tree.CheckpointSuffix: "",
	})
	if err := os.Link(filepath.Join(root, "other"), filepath.Join(root, "g.partial")); err != nil {
		t.Fatal(err)
	}
	f := newFS(t, root, Options{})
	defer f.Close()
	for _, p := range []string{"f", "g"} {
		meta := tree.Entry{Path: p, Kind: tree.File, Size: 3, Mode: 0o644, Hash: xxhash.Sum64String("new")}
		w, err := f.CreateFile(context.Background(), meta, tree.Entry{})
		if err != nil {
			t.Fatal(err)
		}
		if w.(*Writer).ExistingSize() != 0 {
			t.Fatalf("%s: a link was taken for a partial file", p)
		}
		w.WriteAt([]byte("new"), 0)
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]string{"victim": "do not touch", "other": "also not", "f": "new", "g": "new"} {
		if b, _ := os.ReadFile(filepath.Join(root, name)); string(b) != want {
			t.Errorf("%s reads %q, want %q", name, b, want)
		}
	}
}

// TestForeignPartialIsNotConsumed: a user's own X.partial used to be taken
// for a resume file and renamed onto X when X arrived. Without ferry's
// marker beside it, it is in the way: the path fails with an
// InTheWayError naming it, and the file, link or directory is left exactly
// as it was.
func TestForeignPartialIsNotConsumed(t *testing.T) {
	root := t.TempDir()
	endpointtest.Build(t, root, endpointtest.Dir{
		"notes.partial":    "my draft",
		"victim":           "do not touch",
		"link.partial":     endpointtest.Link("victim"),
		"dir.partial/keep": "kept",
	})
	f := newFS(t, root, Options{})
	resumable(f) // small files, received as partials here
	defer f.Close()
	for _, p := range []string{"notes", "link", "dir"} {
		meta := tree.Entry{Path: p, Kind: tree.File, Size: 8, Mode: 0o644, Hash: xxhash.Sum64String("incoming")}
		w, err := f.CreateFile(context.Background(), meta, tree.Entry{})
		var in *endpoint.InTheWayError
		if !errors.As(err, &in) || !errors.Is(err, endpoint.ErrInTheWay) || in.Path != p || in.Name != p+".partial" {
			if err == nil {
				w.Abort()
			}
			t.Fatalf("%s: CreateFile over a foreign partial: %v, want an InTheWayError naming %s.partial", p, err, p)
		}
	}
	for name, want := range map[string]string{"notes.partial": "my draft", "victim": "do not touch", "dir.partial/keep": "kept"} {
		if b, _ := os.ReadFile(filepath.Join(root, name)); string(b) != want {
			t.Errorf("%s reads %q, want %q", name, b, want)
		}
	}
	if target, err := os.Readlink(filepath.Join(root, "link.partial")); err != nil || target != "victim" {
		t.Errorf("link.partial: %q %v", target, err)
	}
	for _, name := range []string{"notes", "link", "dir", "notes.partial" + tree.CheckpointSuffix} {
		if _, err := os.Lstat(filepath.Join(root, name)); err == nil {
			t.Errorf("%s was created", name)
		}
	}
}

func TestWriteAtOutsideSizeRefused(t *testing.T) {
	root := t.TempDir()
	f := newFS(t, root, Options{})
	resumable(f) // small files, received as partials here
	defer f.Close()
	w, err := f.CreateFile(context.Background(), tree.Entry{Path: "f", Kind: tree.File, Size: 4}, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if _, err := w.WriteAt([]byte("abc"), 2); err == nil {
		t.Fatal("WriteAt past the size succeeded")
	}
	if _, err := w.WriteAt([]byte("a"), -1); err == nil {
		t.Fatal("WriteAt at a negative offset succeeded")
	}
	if fi, _ := os.Stat(filepath.Join(root, "f.partial")); fi.Size() != 0 {
		t.Fatalf("refused writes reached the partial file: size %d", fi.Size())
	}
}

// TestCommitStreamingHashCatchesMismatch covers the in-order path, where the
// hash is computed while writing instead of by reading back.
func TestCommitStreamingHashCatchesMismatch(t *testing.T) {
	root := t.TempDir()
	f := newFS(t, root, Options{})
	defer f.Close()
	for _, tc := range []struct {
		content string
		want    error
	}{{"right", nil}, {"wrong", endpoint.ErrHashMismatch}} {
		meta := tree.Entry{Path: "f", Kind: tree.File, Size: 5, Mode: 0o644, Hash: xxhash.Sum64String("right")}
		w, err := f.CreateFile(context.Background(), meta, tree.Entry{})
		if err != nil {
			t.Fatal(err)
		}
		w.WriteAt([]byte(tc.content[:2]), 0)
		w.WriteAt([]byte(tc.content[2:]), 2)
		if !w.(*Writer).seqOK {
			t.Fatal("in-order writes did not take the streaming path")
		}
		err = w.Commit()
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Fatalf("content %q: Commit = %v, want %v", tc.content, err, tc.want)
		}
		if tc.want == nil {
			os.Remove(filepath.Join(root, "f"))
		}
	}
}

var benchFiles = flag.Int("ferry.files", 10000, "files in the generated tree of the scan benchmarks")

// benchTree builds n files of 1-4 KiB in directories of 100.
func benchTree(b *testing.B, n int) string {
	b.Helper()
	root := b.TempDir()
	buf := bytes.Repeat([]byte("ferry benchmark content "), 200)
	for i := range n {
		dir := filepath.Join(root, fmt.Sprintf("d%03d", i/10000), fmt.Sprintf("e%03d", i/100%100))
		if i%100 == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		size := 1024 + i%3072
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", i)), buf[:size], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return root
}

func benchScan(b *testing.B, warm bool) {
	n := *benchFiles
	root := benchTree(b, n)
	cache := newMemCache()
	if warm {
		f := newFS(b, root, Options{Cache: cache, HashWorkers: 0})
		scanAll(b, f)
		f.Close()
	}
	b.ResetTimer()
	for b.Loop() {
		c := cache
		if !warm {
			c = newMemCache()
		}
		f, err := New(root, Options{Cache: c})
		if err != nil {
			b.Fatal(err)
		}
		files := 0
		if err := f.Scan(context.Background(), endpoint.ScanOptions{}, func(e tree.Entry) error {
			if e.Kind == tree.File {
				files++
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		f.Close()
		if files != n {
			b.Fatalf("scan saw %d files, want %d", files, n)
		}
	}
	perFile := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / float64(n)
	b.ReportMetric(perFile, "ns/file")
	b.ReportMetric(1e9/perFile, "files/s")
}

// BenchmarkScanInitial scans with an empty cache: every file is read.
func BenchmarkScanInitial(b *testing.B) { benchScan(b, false) }

// BenchmarkScanNoChange rescans an unchanged tree with a warm cache.
func BenchmarkScanNoChange(b *testing.B) { benchScan(b, true) }

func TestScanFlagsUnsyncableNames(t *testing.T) {
	root := t.TempDir()
	endpointtest.Build(t, root, endpointtest.Dir{`a\b`: "x", `d\e/inner`: "y", "ok": "z"})
	f := newFS(t, root, Options{})
	defer f.Close()
	got := scanAll(t, f)
	if len(got) != 3 {
		t.Fatalf("scan gave %+v, want 3 entries (the backslash dir not descended)", got)
	}
	for _, e := range got[:2] {
		if e.Problem == "" {
			t.Errorf("%q has no problem though tree.ValidPath rejects it", e.Path)
		}
	}
	if got[2].Path != "ok" || got[2].Problem != "" {
		t.Errorf("valid neighbour: %+v", got[2])
	}
}

var seedFlag = flag.Uint64("ferry.seed", 0, "seed for randomised tests (0: time-based)")

// TestScanMatchesReferenceWalk builds a random tree and checks the pipelined
// scan against a plain sequential walk sorted with tree.Compare.
func TestScanMatchesReferenceWalk(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (repeat with -ferry.seed)", seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	root := t.TempDir()
	names := []string{"a", "a.b", "a-b", "A", "b", "ab", "a0", "z", ".x", "é"}
	dirs := []string{""}
	for range 400 {
		parent := dirs[rng.IntN(len(dirs))]
		p := filepath.Join(root, parent, names[rng.IntN(len(names))]+fmt.Sprint(rng.IntN(3)))
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		switch rng.IntN(5) {
		case 0:
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(root, p)
			dirs = append(dirs, rel)
		case 1:
			if err := os.Symlink("a0", p); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(p, bytes.Repeat([]byte{byte(rng.IntN(256))}, rng.IntN(5000)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	type ref struct {
		path string
		hash uint64
	}
	var want []ref
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		r := ref{path: filepath.ToSlash(rel)}
		if d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			r.hash = xxhash.Sum64(b)
		}
		want = append(want, r)
		return nil
	})
	slices.SortFunc(want, func(a, b ref) int { return tree.Compare(a.path, b.path) })
	f := newFS(t, root, Options{HashWorkers: 3, Cache: newMemCache()})
	defer f.Close()
	for pass := range 2 {
		got := scanAll(t, f)
		if len(got) != len(want) {
			t.Fatalf("pass %d: scan gave %d entries, reference walk %d", pass, len(got), len(want))
		}
		for i, e := range got {
			if e.Path != want[i].path || e.Hash != want[i].hash || e.Problem != "" {
				t.Fatalf("pass %d: entry %d is %q hash %x problem %q, want %q hash %x", pass, i, e.Path, e.Hash, e.Problem, want[i].path, want[i].hash)
			}
		}
	}
}

// TestScanFlagsNonUTF8Name: a name that is not UTF-8 used to be listed as an
// ordinary entry, which no control message can carry.
func TestScanFlagsNonUTF8Name(t *testing.T) {
	root := t.TempDir()
	endpointtest.Build(t, root, endpointtest.Dir{"ok": "z"})
	for name, content := range map[string]string{"bad\xff": "x", "dir\xfe/inner": "y"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("target\xff", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	f := newFS(t, root, Options{})
	defer f.Close()
	got := scanAll(t, f)
	want := map[string]bool{"bad\xff": true, "dir\xfe": true, "link": true, "ok": false}
	if len(got) != len(want) {
		t.Fatalf("scan gave %+v, want %d entries (the bad directory not descended)", got, len(want))
	}
	for _, e := range got {
		bad, ok := want[e.Path]
		if !ok {
			t.Errorf("unexpected entry %+v", e)
			continue
		}
		if bad != (e.Problem != "") {
			t.Errorf("%q: Problem %q, want problem=%v", e.Path, e.Problem, bad)
		}
		if bad && e.Path != "link" && !strings.Contains(e.Problem, "not valid UTF-8") {
			t.Errorf("%q: Problem %q does not say why", e.Path, e.Problem)
		}
	}
}

// TestLongNamesSyncAndResume: names of 237-255 bytes never synced ("the
// name is too long to add .partial.ferry-ckpt"). Their partial now has a
// short name, which is found again to resume and is never listed.
func TestLongNamesSyncAndResume(t *testing.T) {
	for _, name := range []string{strings.Repeat("n", 250), strings.Repeat("\u6587", 80), strings.Repeat("m", tree.MaxNameLen)} {
		t.Run(fmt.Sprint(len(name)), func(t *testing.T) {
			root := t.TempDir()
			if err := os.Mkdir(filepath.Join(root, "d"), 0o755); err != nil {
				t.Fatal(err)
			}
			f := newFS(t, root, Options{})
			resumable(f)
			defer f.Close()
			ctx := context.Background()
			p := "d/" + name
			content := []byte("long name content")
			meta := tree.Entry{Path: p, Kind: tree.File, Size: int64(len(content)), Mode: 0o644, Hash: xxhash.Sum64(content)}
			w, err := f.CreateFile(ctx, meta, tree.Entry{})
			if err != nil {
				t.Fatalf("CreateFile of a %d-byte name: %v", len(name), err)
			}
			w.WriteAt(content[:5], 0)
			if err := w.(*Writer).SaveCheckpoint([]byte("key")); err != nil {
				t.Fatal(err)
			}
			w.Abort()
			if got := scanAll(t, f); len(got) != 1 || got[0].Path != "d" {
				t.Fatalf("scan with a partial in flight lists %+v, want only d", got)
			}

			w, err = f.CreateFile(ctx, meta, tree.Entry{})
			if err != nil {
				t.Fatal(err)
			}
			if n := w.(*Writer).ExistingSize(); n != 5 {
				t.Fatalf("resume found %d bytes, want 5", n)
			}
			if ck, err := w.(*Writer).LoadCheckpoint(); err != nil || string(ck) != "key" {
				t.Fatalf("checkpoint after resume: %q %v", ck, err)
			}
			w.WriteAt(content[5:], 5)
			if err := w.Commit(); err != nil {
				t.Fatal(err)
			}
			if got, err := os.ReadFile(filepath.Join(root, "d", name)); err != nil || !bytes.Equal(got, content) {
				t.Fatalf("committed file: %q %v", got, err)
			}
			if ents, _ := os.ReadDir(filepath.Join(root, "d")); len(ents) != 1 {
				t.Fatalf("leftovers: %v", ents)
			}
		})
	}
}

// TestFreeSpaceReservationsAddUp: with 50 bytes free, two 30-byte files
// both started (the second request re-read statfs, which did not show the
// first's reservation), both ran out of space, and their partials then
// blocked every later pass. Reservations now add up until Commit or Abort.
func TestFreeSpaceReservationsAddUp(t *testing.T) {
	root := t.TempDir()
	f := newFS(t, root, Options{})
	resumable(f)
	defer f.Close()
	// A disk of 50 bytes: free is what the files in the folder leave.
	f.freeSpace = func() (endpoint.Space, error) {
		used := int64(0)
		ents, _ := os.ReadDir(root)
		for _, en := range ents {
			if fi, err := en.Info(); err == nil && fi.Mode().IsRegular() {
				used += fi.Size()
			}
		}
		return endpoint.Space{Free: uint64(max(50-used, 0)), Total: 50}, nil
	}
	clock := time.Unix(0, 0)
	f.space.now = func() time.Time { return clock }
	ctx := context.Background()
	content := func(c byte, n int) ([]byte, tree.Entry) {
		b := bytes.Repeat([]byte{c}, n)
		return b, tree.Entry{Path: string(c), Kind: tree.File, Size: int64(n), Mode: 0o644, Hash: xxhash.Sum64(b)}
	}
	a, metaA := content('a', 30)
	_, metaB := content('b', 30)

	wa, err := f.CreateFile(ctx, metaA, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.CreateFile(ctx, metaB, tree.Entry{}); !errors.Is(err, endpoint.ErrNoSpace) {
		t.Fatalf("second 30-byte file with 50 free and 30 reserved: %v, want ErrNoSpace", err)
	}
	// Halfway, after a fresh reading: a has 10 bytes still to write.
	wa.WriteAt(a[:20], 0)
	clock = clock.Add(spaceRefresh)
	if _, err := f.CreateFile(ctx, metaB, tree.Entry{}); !errors.Is(err, endpoint.ErrNoSpace) {
		t.Fatalf("second file once the first wrote 20 of 30 bytes: %v, want ErrNoSpace", err)
	}
	_, metaC := content('c', 21)
	if wc, err := f.CreateFile(ctx, metaC, tree.Entry{}); !errors.Is(err, endpoint.ErrNoSpace) {
		if err == nil {
			wc.Abort()
		}
		t.Fatalf("21 bytes with 30 on disk free but 10 of them promised: %v, want ErrNoSpace", err)
	}
	_, metaD := content('d', 20)
	wd, err := f.CreateFile(ctx, metaD, tree.Entry{})
	if err != nil {
		t.Fatalf("20 bytes into the 20 neither written nor promised: %v", err)
	}
	wd.Abort() // releases it; its empty partial takes no space

	// Abort releases a's reservation; its 20 bytes stay on disk.
	wa.Abort()
	wb, err := f.CreateFile(ctx, metaB, tree.Entry{})
	if err != nil {
		t.Fatalf("second file after the first aborted (30 free): %v", err)
	}
	wb.Abort()
	// a's own partial counts as reserved: resuming needs only 10 bytes,
	// even with b's 30 gone from the free space.
	clock = clock.Add(spaceRefresh)
	if wa, err = f.CreateFile(ctx, metaA, tree.Entry{}); err != nil {
		t.Fatalf("resuming a: %v", err)
	}
	wa.WriteAt(a[20:], 20)
	if err := wa.Commit(); err != nil {
		t.Fatal(err)
	}
	// Commit released it too: 20 free, with nothing promised.
	if _, err := f.CreateFile(ctx, metaB, tree.Entry{}); !errors.Is(err, endpoint.ErrNoSpace) {
		t.Fatalf("30 bytes with 20 free: %v, want ErrNoSpace", err)
	}
	w, err := f.CreateFile(ctx, metaD, tree.Entry{})
	if err != nil {
		t.Fatalf("20 bytes with 20 free after the commit: %v", err)
	}
	w.Abort()
}

// resumable makes f receive even the smallest file through a partial
// file, as files above wholeMax are: tests of the partial file's
// mechanics (locks, tags, checkpoints, resume) use small contents.
func resumable(f *FS) { f.wholeMax = -1 }

// TestSmallFileIsReceivedWhole: a file of up to wholeMax bytes is written
// under a temporary name and renamed into place, without a partial file
// (and so without its lock, tag and marker, six system calls that were a
// fifth of a first sync's CPU). Abort leaves nothing behind, a failed
// Commit neither, and a user's own NAME.partial is not in its way.
func TestSmallFileIsReceivedWhole(t *testing.T) {
	root := t.TempDir()
	f := newFS(t, root, Options{})
	defer f.Close()
	ctx := context.Background()
	content := bytes.Repeat([]byte("x"), wholeMax)
	meta := tree.Entry{Path: "f", Kind: tree.File, Size: int64(len(content)), Mode: 0o640, Mtime: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano(), Hash: xxhash.Sum64(content)}
	names := func() []string {
		t.Helper()
		des, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		var ns []string
		for _, de := range des {
			ns = append(ns, de.Name())
		}
		return ns
	}

	w, err := f.CreateFile(ctx, meta, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(content[:10], 0); err != nil {
		t.Fatal(err)
	}
	ns := names()
	if len(ns) != 1 || !isTempName(ns[0]) {
		t.Fatalf("while a small file is written the folder holds %q, want one temporary name", ns)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if ns := names(); len(ns) != 0 {
		t.Fatalf("Abort of a small file left %q", ns)
	}

	// A wrong hash fails the Commit and leaves nothing either.
	bad := meta
	bad.Hash++
	w, err = f.CreateFile(ctx, bad, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(content, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); !errors.Is(err, endpoint.ErrHashMismatch) {
		t.Fatalf("Commit with a wrong hash: %v, want ErrHashMismatch", err)
	}
	if ns := names(); len(ns) != 0 {
		t.Fatalf("a failed Commit of a small file left %q", ns)
	}

	// The user's own f.partial stays as it is.
	if err := os.WriteFile(filepath.Join(root, "f.partial"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err = f.CreateFile(ctx, meta, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(content, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := names(); !slices.Equal(got, []string{"f", "f.partial"}) {
		t.Fatalf("after the Commit the folder holds %q, want f and the user's f.partial", got)
	}
	fi, err := os.Lstat(filepath.Join(root, "f"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len(content)) || fi.Mode().Perm() != 0o640 || fi.ModTime().UnixNano() != meta.Mtime {
		t.Fatalf("committed f: size %d mode %v mtime %v", fi.Size(), fi.Mode().Perm(), fi.ModTime())
	}
	if b, _ := os.ReadFile(filepath.Join(root, "f.partial")); string(b) != "mine" {
		t.Fatalf("the user's f.partial now reads %q", b)
	}

	// One byte more is received through a partial file, which resumes.
	big := append(content, 'y')
	bm := tree.Entry{Path: "g", Kind: tree.File, Size: int64(len(big)), Mode: 0o644, Hash: xxhash.Sum64(big)}
	w, err = f.CreateFile(ctx, bm, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt(big[:100], 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	gw, err := f.createFile(ctx, bm, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Abort()
	if n := gw.ExistingSize(); n != 100 {
		t.Fatalf("a file of wholeMax+1 bytes resumes at %d, want 100", n)
	}
}
