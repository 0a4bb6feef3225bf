package localfs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/tree"
)

// commitFile writes content to p through CreateFile and Commit, in order,
// with the given expected hash (0: none) and mtime.
func commitFile(t *testing.T, f *FS, p, content string, hash uint64, mtime int64) {
	t.Helper()
	meta := tree.Entry{Path: p, Kind: tree.File, Size: int64(len(content)), Mode: 0o640, Mtime: mtime, Hash: hash}
	w, err := f.CreateFile(context.Background(), meta, tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteAt([]byte(content), 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestCommitTeachesTheCache: a file a Commit put in place is handed to the
// scan cache with the hash of what was written and the lstat of the file
// as written, so the next scan reads none of them; one changed after it
// landed is read again, and one with no mtime to give is not learned.
func TestCommitTeachesTheCache(t *testing.T) {
	root := t.TempDir()
	cache := newMemCache()
	f := newFS(t, root, Options{Cache: cache})
	defer f.Close()
	hashed := countHashes(f)
	mtime := time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC).UnixNano()
	const files = 40
	for i := range 3 {
		if err := f.Mkdir(context.Background(), fmt.Sprint("d", i), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := range files {
		content := fmt.Sprint("content of file ", i)
		hash := xxhash.Sum64String(content)
		if i%2 == 1 {
			hash = 0 // hashed as it is copied: the writer's digest
		}
		commitFile(t, f, fmt.Sprintf("d%d/f%02d", i%3, i), content, hash, mtime)
	}
	commitFile(t, f, "now", "dated at the commit", 0, 0)
	if cache.learned != files {
		t.Fatalf("the cache learned %d files, want %d", cache.learned, files)
	}
	check := func(what string, wantHashed int64) {
		t.Helper()
		hashed.Store(0)
		for _, e := range scanAll(t, f) {
			if e.Kind != tree.File {
				continue
			}
			data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(e.Path)))
			if err != nil {
				t.Fatal(err)
			}
			if e.Hash != xxhash.Sum64(data) {
				t.Errorf("%s: %s listed with hash %016x, its content hashes to %016x", what, e.Path, e.Hash, xxhash.Sum64(data))
			}
		}
		if n := hashed.Load(); n != wantHashed {
			t.Errorf("%s: the scan read %d files, want %d", what, n, wantHashed)
		}
	}
	check("the scan after the commits", 1) // "now" only
	// Rewritten in place after it landed, same size: its mtime moved, so
	// it is read again.
	p := filepath.Join(root, "d0", "f00")
	if err := os.WriteFile(p, []byte("CONTENT OF FILE 0"), 0o640); err != nil {
		t.Fatal(err)
	}
	check("the scan after a rewrite", 1)
}
