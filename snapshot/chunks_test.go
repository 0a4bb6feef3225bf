package snapshot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/tree"
)

// listOf returns the chunk list of size bytes drawn from seed, and the
// entry of a file holding them.
func listOf(t testing.TB, path string, size int, seed uint64) (tree.Entry, chunk.List) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	data := make([]byte, size+7)
	for i := 0; i < size; i += 8 {
		binary.LittleEndian.PutUint64(data[i:], rng.Uint64())
	}
	data = data[:size]
	c, ok := chunk.New(int64(size), nil)
	if !ok {
		t.Fatalf("no list for %d bytes", size)
	}
	c.Write(data)
	l, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	e := file(path, int64(size), seed|1<<40)
	e.Ino = seed + 100
	return e, l
}

// storedList loads path's list from c and fails unless it is want's.
func storedList(t *testing.T, c *Cache, e tree.Entry, want chunk.List) {
	t.Helper()
	got, l, ok, err := c.LoadChunks(e.Path)
	if err != nil || !ok {
		t.Fatalf("LoadChunks(%s) = ok %v, %v; want a list", e.Path, ok, err)
	}
	if got != e || !reflect.DeepEqual(l, want) {
		t.Fatalf("LoadChunks(%s) gave %+v with %d chunks; want %+v with %d", e.Path, got, len(l.Chunks), e, len(want.Chunks))
	}
}

func noList(t *testing.T, c *Cache, path string) {
	t.Helper()
	if _, _, ok, err := c.LoadChunks(path); ok || err != nil {
		t.Fatalf("LoadChunks(%s) = ok %v, %v; want none", path, ok, err)
	}
}

// TestChunkListsSurviveReopen: a list stored by a scan and committed is
// read back, entry and all, from the file after the database is reopened,
// per side; an empty list (a small file) is not kept.
func TestChunkListsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.db")
	db := openTest(t, path, nil)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	big, l := listOf(t, "d/big", 3<<20+17, 1)
	small := file("small", 10, 5)
	c.Store(big)
	c.Store(small)
	if err := c.StoreChunks(big, l); err != nil {
		t.Fatal(err)
	}
	if err := c.StoreChunks(small, chunk.List{Total: 10}); err != nil {
		t.Fatal(err)
	}
	storedList(t, c, big, l) // from the buffer
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db = openTest(t, path, nil)
	c, err = db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	storedList(t, c, big, l)
	noList(t, c, "small")
	other, err := db.Cache("remote")
	if err != nil {
		t.Fatal(err)
	}
	noList(t, other, "d/big")
}

// TestChunkListsOfGoneOrChangedFilesAreDropped: Commit keeps a list only
// while the scan still saw its file with the lstat and hash it was made
// for; a file deleted, or changed without a new list, loses it.
func TestChunkListsOfGoneOrChangedFilesAreDropped(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	keep, lk := listOf(t, "keep", 1<<20, 1)
	gone, lg := listOf(t, "gone", 1<<20, 2)
	touched, lt := listOf(t, "touched", 1<<20, 3)
	redone, lr := listOf(t, "redone", 1<<20, 4)
	for _, e := range []tree.Entry{keep, gone, touched, redone} {
		c.Store(e)
	}
	for e, l := range map[*tree.Entry]chunk.List{&keep: lk, &gone: lg, &touched: lt, &redone: lr} {
		if err := c.StoreChunks(*e, l); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}

	// The next scan: keep as it was, gone deleted, touched's mtime moved
	// (no new list: say the store failed), redone rewritten with a new list.
	c.Store(keep)
	touched2 := touched
	touched2.Mtime++
	c.Store(touched2)
	redone2, lr2 := listOf(t, "redone", 2<<20, 5)
	c.Store(redone2)
	if err := c.StoreChunks(redone2, lr2); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	storedList(t, c, keep, lk)
	storedList(t, c, redone2, lr2)
	noList(t, c, "gone")
	noList(t, c, "touched")
}

// TestUnchangedRescanWritesNoChunkLists: the lists are not rewritten by a
// rescan that found nothing new; the commit writes nothing at all.
func TestUnchangedRescanWritesNoChunkLists(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	big, l := listOf(t, "big", 2<<20, 1)
	c.Store(big)
	if err := c.StoreChunks(big, l); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	writes := func() int64 { st := db.bolt.Stats(); return st.TxStats.GetWrite() }
	before := writes()
	c.Store(big)
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	if w := writes(); w != before {
		t.Fatalf("a no-change commit wrote %d pages", w-before)
	}
	storedList(t, c, big, l)
}

// TestStoreChunksBoundsItsBuffer: a scan of many large files does not
// hold their lists until Commit: past maxPendingChunks they are written,
// and another Cache on the same file reads them before any Commit.
func TestStoreChunksBoundsItsBuffer(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	// A list of 1,024 chunks of 64 KiB, ~34 KB encoded, as a 64 MiB file
	// has (the sums do not matter here).
	l := chunk.List{Total: 64 << 20}
	for i := range 1024 {
		c := chunk.Chunk{Off: int64(i) << 16, Len: 1 << 16}
		c.Sum[0], c.Sum[1] = byte(i), byte(i>>8)
		l.Chunks = append(l.Chunks, c)
	}
	n := maxPendingChunks/l.EncodedLen() + 2
	var first tree.Entry
	for i := range n {
		e := file(fmt.Sprintf("f%04d", i), l.Total, uint64(i+1))
		if i == 0 {
			first = e
		}
		if err := c.StoreChunks(e, l); err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		pending := c.pendingBytes
		c.mu.Unlock()
		if pending >= maxPendingChunks {
			t.Fatalf("after %d lists %d bytes are buffered, bound %d", i+1, pending, maxPendingChunks)
		}
	}
	fresh, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	storedList(t, fresh, first, l)
}

// TestSaveChunksWritesAtOnce: a list saved outside a scan is in the file
// without a Commit, and replaces one still buffered for the path.
func TestSaveChunksWritesAtOnce(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	old, lo := listOf(t, "big", 1<<20, 1)
	if err := c.StoreChunks(old, lo); err != nil {
		t.Fatal(err)
	}
	e, l := listOf(t, "big", 2<<20, 2)
	if err := c.SaveChunks(e, l); err != nil {
		t.Fatal(err)
	}
	storedList(t, c, e, l)
	fresh, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	storedList(t, fresh, e, l)
}

// TestStoreChunksRefusesAListOfAnotherFile: a list whose total is not the
// entry's size, or of an entry with no hash, is a caller's mistake.
func TestStoreChunksRefusesAListOfAnotherFile(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	e, l := listOf(t, "big", 1<<20, 1)
	short := e
	short.Size--
	unhashed := e
	unhashed.Hash = 0
	for _, bad := range []tree.Entry{short, unhashed} {
		if err := c.StoreChunks(bad, l); err == nil {
			t.Errorf("StoreChunks(%+v) of a %d-byte list succeeded", bad, l.Total)
		}
	}
	noList(t, c, "big")
}

// TestDamagedChunkListIsReported: a flipped byte in a stored list fails
// its checksum; Open moves the file aside like any damaged record.
func TestDamagedChunkListIsReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.db")
	db := openTest(t, path, nil)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	e, l := listOf(t, "big", 1<<20, 1)
	if err := c.SaveChunks(e, l); err != nil {
		t.Fatal(err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(chunksPrefix + "local"))
		k := appendKey(nil, "big")
		v := append([]byte(nil), b.Get(k)...)
		v[len(v)/2] ^= 1
		return b.Put(k, v)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := c.LoadChunks("big"); !errors.Is(err, ErrDamaged) {
		t.Fatalf("LoadChunks of a damaged list: %v, want ErrDamaged", err)
	}
	db.Close()
	db = openTest(t, path, nil)
	if db.Recovered() == "" {
		t.Fatal("Open kept a file with a damaged chunk list")
	}
}

// TestResetDropsChunkLists: a reset job starts without lists too.
func TestResetDropsChunkLists(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	e, l := listOf(t, "big", 1<<20, 1)
	if err := c.SaveChunks(e, l); err != nil {
		t.Fatal(err)
	}
	if err := db.Reset(); err != nil {
		t.Fatal(err)
	}
	fresh, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	noList(t, fresh, "big")
}

// TestChunkListsConcurrentUse: hash workers store lists (past the buffer
// bound, so some are written mid-scan) while others load them; every list
// is found, from the buffer or the file, and survives Commit.
func TestChunkListsConcurrentUse(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	l := chunk.List{Total: 16 << 20}
	for i := range 256 {
		l.Chunks = append(l.Chunks, chunk.Chunk{Off: int64(i) << 16, Len: 1 << 16})
	}
	const workers, each = 4, 100 // 400 lists of ~8.7 KB: past the bound
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e := file(fmt.Sprintf("w%d/f%03d", w, i), l.Total, uint64(w*each+i+1))
				c.Store(e)
				if err := c.StoreChunks(e, l); err != nil {
					t.Error(err)
					return
				}
				if got, _, ok, err := c.LoadChunks(e.Path); !ok || err != nil || got != e {
					t.Errorf("LoadChunks(%s) right after storing it: %+v, %v, %v", e.Path, got, ok, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	fresh, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	for w := range workers {
		for i := range each {
			if _, _, ok, err := fresh.LoadChunks(fmt.Sprintf("w%d/f%03d", w, i)); !ok || err != nil {
				t.Fatalf("w%d/f%03d: list lost (%v)", w, i, err)
			}
		}
	}
}

// TestFindChunksLooksThroughStoredAndBufferedLists: FindChunks reports,
// for the sums asked for, the file and chunk of lists written and lists
// still buffered, only for the side asked, and stops when told to.
func TestFindChunksLooksThroughStoredAndBufferedLists(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	c, err := db.Cache("remote")
	if err != nil {
		t.Fatal(err)
	}
	written, wl := listOf(t, "a", 2<<20, 21)
	buffered, bl := listOf(t, "b", 2<<20, 22)
	c.Store(written)
	if err := c.SaveChunks(written, wl); err != nil {
		t.Fatal(err)
	}
	if err := c.StoreChunks(buffered, bl); err != nil {
		t.Fatal(err)
	}
	want := map[[chunk.SumSize]byte]bool{wl.Chunks[1].Sum: true, bl.Chunks[2].Sum: true, {9}: true}
	got := map[string]chunk.Chunk{}
	err = c.FindChunks(want, func(e tree.Entry, ch chunk.Chunk) bool {
		got[e.Path] = ch
		if (e.Path == "a" && e != written) || (e.Path == "b" && e != buffered) {
			t.Errorf("found in %+v, a file the lists were not stored for", e)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["a"] != wl.Chunks[1] || got["b"] != bl.Chunks[2] {
		t.Fatalf("found %+v; want a's second chunk and b's third", got)
	}
	calls := 0
	if err := c.FindChunks(want, func(tree.Entry, chunk.Chunk) bool { calls++; return false }); err != nil || calls != 1 {
		t.Fatalf("FindChunks went on after found said stop: %d calls, %v", calls, err)
	}
	other, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.FindChunks(want, func(e tree.Entry, _ chunk.Chunk) bool { t.Errorf("other side found %s", e.Path); return true }); err != nil {
		t.Fatal(err)
	}
}
