package localfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/endpoint/endpointtest"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/tree"
)

var _ ChunkStore = (*snapshot.Cache)(nil)

// memChunks is a ChunkStore in memory that counts what it was given.
type memChunks struct {
	mu     sync.Mutex
	m      map[string]keptList
	stores int // lists from a scan
	saves  int // lists Chunks read itself
}

type keptList struct {
	e tree.Entry
	l chunk.List
}

func newMemChunks() *memChunks { return &memChunks{m: map[string]keptList{}} }

func (c *memChunks) StoreChunks(e tree.Entry, l chunk.List) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stores++
	c.m[e.Path] = keptList{e, l}
	return nil
}

func (c *memChunks) SaveChunks(e tree.Entry, l chunk.List) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.saves++
	c.m[e.Path] = keptList{e, l}
	return nil
}

func (c *memChunks) LoadChunks(p string) (tree.Entry, chunk.List, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.m[p]
	return k.e, k.l, ok, nil
}

func (c *memChunks) FindChunks(want map[[chunk.SumSize]byte]bool, found func(tree.Entry, chunk.Chunk) bool) error {
	c.mu.Lock()
	kept := make([]keptList, 0, len(c.m))
	for _, k := range c.m {
		kept = append(kept, k)
	}
	c.mu.Unlock()
	for _, k := range kept {
		for _, ch := range k.l.Chunks {
			if want[ch.Sum] && !found(k.e, ch) {
				return nil
			}
		}
	}
	return nil
}

func (c *memChunks) counts() (stores, saves int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stores, c.saves
}

// randomBytes returns n bytes drawn from seed.
func randomBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 3))
	b := make([]byte, n+7)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	return b[:n]
}

// chunkList is the list chunk gives data.
func chunkList(t testing.TB, data []byte) chunk.List {
	t.Helper()
	c, ok := chunk.New(int64(len(data)), nil)
	if !ok {
		t.Fatalf("no list for %d bytes", len(data))
	}
	c.Write(data)
	l, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func byPath(es []tree.Entry) map[string]tree.Entry {
	m := map[string]tree.Entry{}
	for _, e := range es {
		m[e.Path] = e
	}
	return m
}

// rewriteInPlace overwrites p's bytes with data (the same length) in the
// same inode and sets its mtime back: only its content (and ctime) tell.
func rewriteInPlace(t *testing.T, p string, data []byte) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// TestScanKeepsChunkListsOfLargeFiles: the scan's one read of a file of
// chunk.MinFileSize or more gives its chunk list too, kept with the entry
// the scan emitted; smaller files get none, and an unchanged rescan reads
// and keeps nothing.
func TestScanKeepsChunkListsOfLargeFiles(t *testing.T) {
	root := t.TempDir()
	big := randomBytes(chunk.MinFileSize+5, 1)
	edge := randomBytes(chunk.MinFileSize, 2)
	small := randomBytes(chunk.MinFileSize-1, 3)
	endpointtest.Build(t, root, endpointtest.Dir{"big": string(big), "d/edge": string(edge), "small": string(small)})
	store := newMemChunks()
	f := newFS(t, root, Options{Cache: newMemCache(), Chunks: store})
	defer f.Close()
	hashed := countHashes(f)

	got := byPath(scanAll(t, f))
	if hashed.Load() != 3 {
		t.Fatalf("scan read %d files, want 3 (each once)", hashed.Load())
	}
	if stores, saves := store.counts(); stores != 2 || saves != 0 {
		t.Fatalf("scan kept %d lists (%d saved), want 2", stores, saves)
	}
	for p, data := range map[string][]byte{"big": big, "d/edge": edge} {
		k, ok := store.m[p]
		if !ok {
			t.Fatalf("no list kept for %s", p)
		}
		if k.e != got[p] || k.e.Hash != xxhash.Sum64(data) {
			t.Errorf("%s: list kept for %+v, scan emitted %+v", p, k.e, got[p])
		}
		if want := chunkList(t, data); !reflect.DeepEqual(k.l, want) {
			t.Errorf("%s: kept list of %d chunks differs from the file's (%d chunks)", p, len(k.l.Chunks), len(want.Chunks))
		}
	}
	if _, ok := store.m["small"]; ok {
		t.Error("a list was kept for a file under chunk.MinFileSize")
	}

	hashed.Store(0)
	scanAll(t, f)
	if stores, _ := store.counts(); hashed.Load() != 0 || stores != 2 {
		t.Fatalf("unchanged rescan read %d files and kept %d lists in all, want 0 and still 2", hashed.Load(), stores)
	}
}

// TestScanKeepsTheListOfWhatItHashed: a file rewritten while it was read
// is read again; the list kept is of the content whose hash was emitted.
func TestScanKeepsTheListOfWhatItHashed(t *testing.T) {
	root := t.TempDir()
	first, second := randomBytes(chunk.MinFileSize, 1), randomBytes(chunk.MinFileSize, 2)
	endpointtest.Build(t, root, endpointtest.Dir{"big": string(first)})
	store := newMemChunks()
	f := newFS(t, root, Options{Chunks: store})
	defer f.Close()
	var calls atomic.Int64
	f.afterHash = func(p string) {
		if calls.Add(1) == 1 {
			rewriteInPlace(t, filepath.Join(root, "big"), second)
		}
	}
	got := scanAll(t, f)
	if calls.Load() != 2 || got[0].Hash != xxhash.Sum64(second) {
		t.Fatalf("read %d times, emitted %+v; want 2 reads and the second content's hash", calls.Load(), got[0])
	}
	if stores, _ := store.counts(); stores != 1 {
		t.Fatalf("kept %d lists, want 1", stores)
	}
	if k := store.m["big"]; k.e != got[0] || !reflect.DeepEqual(k.l, chunkList(t, second)) {
		t.Fatalf("kept the list of %+v, not of the content hashed", k.e)
	}
}

// TestChunksAnswersFromTheScansList: Chunks of a file unchanged since the
// scan does not read it. Proven by rewriting its bytes in place with its
// mtime set back (the scan cache's documented blind spot): the answer is
// still the list of the content the scan read, where a read would have
// found the content changed.
func TestChunksAnswersFromTheScansList(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	old := randomBytes(3<<20, 1)
	endpointtest.Build(t, root, endpointtest.Dir{"big": string(old)})
	store := newMemChunks()
	f := newFS(t, root, Options{Chunks: store})
	defer f.Close()
	e := scanAll(t, f)[0]
	rewriteInPlace(t, filepath.Join(root, "big"), randomBytes(len(old), 2))

	l, err := f.Chunks(ctx, "big", e)
	if err != nil {
		t.Fatalf("Chunks: %v", err)
	}
	if !reflect.DeepEqual(l, chunkList(t, old)) {
		t.Fatal("Chunks did not answer with the list the scan kept")
	}
	if _, saves := store.counts(); saves != 0 {
		t.Fatalf("Chunks read the file (%d lists saved)", saves)
	}

	// The same call without the store reads, and sees the change.
	bare := newFS(t, root, Options{})
	defer bare.Close()
	if _, err := bare.Chunks(ctx, "big", e); !errors.Is(err, endpoint.ErrChanged) {
		t.Fatalf("Chunks without a store: %v, want ErrChanged", err)
	}
}

// TestChunksRereadsAChangedFile: a kept list is used only for the file it
// was made for. Another mtime, another inode (same content, same mtime) or
// another expected hash makes Chunks read the file; what it reads is kept
// and answers the next call.
func TestChunksRereadsAChangedFile(t *testing.T) {
	ctx := context.Background()
	data := randomBytes(2<<20, 1)
	want := chunkList(t, data)
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, p string)
		hash   uint64 // expected hash; 0: the content's
		err    error
	}{
		{name: "mtime", change: func(t *testing.T, p string) {
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(p, later, later); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "inode", change: func(t *testing.T, p string) {
			fi, _ := os.Lstat(p)
			tmp := p + ".tmp"
			if err := os.WriteFile(tmp, data, 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(tmp, fi.ModTime(), fi.ModTime())
			if err := os.Rename(tmp, p); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "expected hash", change: func(*testing.T, string) {}, hash: 42, err: endpoint.ErrChanged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			endpointtest.Build(t, root, endpointtest.Dir{"big": string(data)})
			store := newMemChunks()
			f := newFS(t, root, Options{Chunks: store})
			defer f.Close()
			scanAll(t, f)
			p := filepath.Join(root, "big")
			tc.change(t, p)
			e, err := f.Stat(ctx, "big")
			if err != nil {
				t.Fatal(err)
			}
			e.Hash = xxhash.Sum64(data)
			if tc.hash != 0 {
				e.Hash = tc.hash
			}
			l, err := f.Chunks(ctx, "big", e)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Chunks: %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(l, want) {
				t.Fatalf("Chunks: %d chunks, %v; want the file's %d", len(l.Chunks), err, len(want.Chunks))
			}
			if _, saves := store.counts(); saves != 1 {
				t.Fatalf("Chunks saved %d lists, want 1 (it read the file)", saves)
			}
			if k := store.m["big"]; !k.e.SameStat(e) || k.e.Hash != e.Hash {
				t.Fatalf("saved the list for %+v, the file is %+v", k.e, e)
			}
			if _, err := f.Chunks(ctx, "big", e); err != nil {
				t.Fatal(err)
			}
			if _, saves := store.counts(); saves != 1 {
				t.Fatal("the list Chunks read was not used the next time")
			}
		})
	}
}

// TestChunkListsInTheSnapshotDB: with the job's snapshot cache as the
// store, the scan's lists are in the database after Commit, answer Chunks
// after the database is reopened (without reading the file), and go when
// their file is deleted.
func TestChunkListsInTheSnapshotDB(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dbPath := filepath.Join(t.TempDir(), "job.db")
	old := randomBytes(2<<20, 1)
	endpointtest.Build(t, root, endpointtest.Dir{"big": string(old), "small": "x"})

	open := func() (*snapshot.DB, *snapshot.Cache, *FS) {
		db, err := snapshot.Open(dbPath)
		if err != nil {
			t.Fatal(err)
		}
		c, err := db.Cache("local")
		if err != nil {
			t.Fatal(err)
		}
		return db, c, newFS(t, root, Options{Cache: c, Chunks: c})
	}
	db, c, f := open()
	e := byPath(scanAll(t, f))["big"]
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	db.Close()

	db, c, f = open()
	rewriteInPlace(t, filepath.Join(root, "big"), randomBytes(len(old), 2))
	l, err := f.Chunks(ctx, "big", e)
	if err != nil || !reflect.DeepEqual(l, chunkList(t, old)) {
		t.Fatalf("Chunks after reopening: %d chunks, %v; want the scan's list", len(l.Chunks), err)
	}

	if err := os.Remove(filepath.Join(root, "big")); err != nil {
		t.Fatal(err)
	}
	scanAll(t, f)
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := c.LoadChunks("big"); ok || err != nil {
		t.Fatalf("the list of a deleted file is still kept (%v)", err)
	}
	f.Close()
	db.Close()
}

// TestSeedFromOthersTakesVerifiedChunksOfOtherFiles: a new file that shares
// most of its chunks with a file the folder holds is filled from that
// file's kept list, each chunk hashed again; chunks of a file that changed
// since its list was kept are not taken.
func TestSeedFromOthersTakesVerifiedChunksOfOtherFiles(t *testing.T) {
	root := t.TempDir()
	a := randomBytes(3<<20, 11)
	b := randomBytes(2<<20, 12)
	endpointtest.Build(t, root, endpointtest.Dir{"a.bin": string(a), "b.bin": string(b)})
	store := newMemChunks()
	f := newFS(t, root, Options{Cache: newMemCache(), Chunks: store})
	defer f.Close()
	scanAll(t, f)
	// The new file: a's first half, 1000 new bytes, b whole.
	next := append(append(append([]byte(nil), a[:3<<19]...), randomBytes(1000, 13)[:1000]...), b...)
	nl := chunkList(t, next)
	w := &memWriter{}
	held, err := f.SeedFromOthers(context.Background(), w, nl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := chunk.Bytes(held); n < int64(len(next))*8/10 {
		t.Fatalf("filled %d of %d bytes from files that hold nearly all of them", n, len(next))
	}
	for _, h := range held {
		if !bytes.Equal(w.b[h.Off:h.Off+h.Len], next[h.Off:h.Off+h.Len]) {
			t.Fatalf("range %v holds wrong bytes", h)
		}
	}
	// b rewritten with other bytes of the same length: its kept list
	// names chunks it no longer has, and none of them may be taken.
	if err := os.WriteFile(filepath.Join(root, "b.bin"), randomBytes(len(b), 14)[:len(b)], 0o644); err != nil {
		t.Fatal(err)
	}
	w = &memWriter{}
	held, err = f.SeedFromOthers(context.Background(), w, nl, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range held {
		if !bytes.Equal(w.b[h.Off:h.Off+h.Len], next[h.Off:h.Off+h.Len]) {
			t.Fatalf("after b changed, range %v holds wrong bytes", h)
		}
		if h.Off+h.Len > 3<<19+1000+64<<10 {
			t.Fatalf("after b changed, range %v was taken from it", h)
		}
	}
}

type memWriter struct{ b []byte }

func (m *memWriter) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}
