package localfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/tree"
)

func writeFile(t *testing.T, f *FS, p string, content []byte) error {
	t.Helper()
	meta := tree.Entry{Path: p, Kind: tree.File, Size: int64(len(content)), Mode: 0o644, Hash: xxhash.Sum64(content)}
	w, err := f.CreateFile(context.Background(), meta, tree.Entry{})
	if err != nil {
		return err
	}
	if _, err := w.WriteAt(content, 0); err != nil {
		w.Abort()
		return err
	}
	return w.Commit()
}

// A directory kept open from an earlier write must not be written through
// once it has been swapped for a symlink or another directory.
func TestCachedDirectorySwapIsCaught(t *testing.T) {
	root := t.TempDir()
	f := newFS(t, root, Options{})
	defer f.Close()
	for _, d := range []string{"a", "b", "a/c"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeFile(t, f, "a/c/one", []byte("1")); err != nil {
		t.Fatal(err)
	}

	// a/c replaced by a symlink to b, which stays inside the folder.
	if err := os.Rename(filepath.Join(root, "a", "c"), filepath.Join(root, "old-c")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "b"), filepath.Join(root, "a", "c")); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(t, f, "a/c/two", []byte("2")); !errors.Is(err, syncer.ErrChanged) {
		t.Fatalf("write below a symlinked directory: %v, want ErrChanged", err)
	}
	for _, p := range []string{"b/two", "old-c/two"} {
		if _, err := os.Lstat(filepath.Join(root, p)); err == nil {
			t.Fatalf("%s was written through a stale or symlinked directory", p)
		}
	}

	// a replaced by another real directory: the new one gets the file.
	if err := os.Rename(filepath.Join(root, "a"), filepath.Join(root, "old-a")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "a", "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(t, f, "a/c/three", []byte("3")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(root, "a", "c", "three")); err != nil {
		t.Fatalf("file not in the new directory: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "old-a", "c", "three")); err == nil {
		t.Fatal("file written into the directory that was moved away")
	}
}

// Many commits at once in few directories share directory fsyncs and all
// land; the cache stays bounded.
func TestConcurrentCommits(t *testing.T) {
	root := t.TempDir()
	f := newFS(t, root, Options{})
	defer f.Close()
	const dirs, files = maxCachedDirs + 10, 400
	for d := range dirs {
		if err := os.Mkdir(filepath.Join(root, fmt.Sprint(d)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, files)
	sem := make(chan struct{}, 32)
	for i := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p := fmt.Sprintf("%d/f%d", i%dirs, i)
			errs[i] = writeFile(t, f, p, []byte(p))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
		p := fmt.Sprintf("%d/f%d", i%dirs, i)
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || string(got) != p {
			t.Fatalf("%s: %q %v", p, got, err)
		}
	}
	f.dirs.mu.Lock()
	n := len(f.dirs.m)
	f.dirs.mu.Unlock()
	if n > maxCachedDirs {
		t.Fatalf("%d directories cached, want at most %d", n, maxCachedDirs)
	}
}
