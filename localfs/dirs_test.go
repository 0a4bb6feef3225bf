package localfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/endpoint"
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
	if err := writeFile(t, f, "a/c/two", []byte("2")); !errors.Is(err, endpoint.ErrChanged) {
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

// TestConcurrentWritersOfOnePathNeverMix: two writers of one path (two
// ferry processes, or two sessions of ferry serve) used to share
// NAME.partial, so a partial holding bytes of both could be committed.
// Now the second writer is refused with ErrChanged while the first holds
// the partial, and the file ends up exactly one writer's content.
// TestPartialCommittedWhileJudgedIsBusyNotForeign: a writer that finds
// another's partial file opens it to see whose it is; if the other commits
// meanwhile (renames it into place, untagged, and lets go of its lock), the
// file it holds is no longer the partial and must not be called the
// user's own. TestConcurrentWritersOfOnePathNeverMix hit this under load:
// "f.partial exists and was not written by ferry".
func TestPartialCommittedWhileJudgedIsBusyNotForeign(t *testing.T) {
	root := t.TempDir()
	f := newFS(t, root, Options{})
	defer f.Close()
	d, base, err := f.parentFor("create", "f")
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	partial := partialName(base, f.partialSuffix)
	if err := os.WriteFile(filepath.Join(root, partial), []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	file, fi, err := openRegular(d.r, partial)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	// Untagged, unlocked and still in place: a user's own file.
	if err := ownerOf(d, partial, file, fi); !errors.Is(err, errForeign) {
		t.Fatalf("a user's partial file in place: %v, want errForeign", err)
	}
	file.Close()
	if file, fi, err = openRegular(d.r, partial); err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	// The other writer commits between the open and the judgement.
	if err := os.Rename(filepath.Join(root, partial), filepath.Join(root, "f")); err != nil {
		t.Fatal(err)
	}
	if err := ownerOf(d, partial, file, fi); !errors.Is(err, errBusy) {
		t.Fatalf("a partial committed while judged: %v, want errBusy", err)
	}
}

// TestPartialCommittedBeforeItIsReopenedIsBusy: a writer that saw
// ferry's partial file and goes to resume it finds it gone when another
// writer committed it in between; that is a transfer in progress
// (ErrChanged), not a failure. TestConcurrentWritersOfOnePathNeverMix hit
// this under load: "openat f.partial: no such file or directory".
func TestPartialCommittedBeforeItIsReopenedIsBusy(t *testing.T) {
	root := t.TempDir()
	f := newFS(t, root, Options{})
	defer f.Close()
	d, base, err := f.parentFor("create", "f")
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	partial := partialName(base, f.partialSuffix)
	if err := os.WriteFile(filepath.Join(root, partial), []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	pi, err := d.r.Lstat(partial)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, partial), filepath.Join(root, "f")); err != nil {
		t.Fatal(err)
	}
	if file, err := openExisting(d, partial, pi); !errors.Is(err, errBusy) {
		if err == nil {
			file.Close()
		}
		t.Fatalf("a partial committed before it was reopened: %v, want errBusy", err)
	}
}

func TestConcurrentWritersOfOnePathNeverMix(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	f := newFS(t, root, Options{})
	resumable(f) // small files, received as partials here
	defer f.Close()
	g := newFS(t, root, Options{}) // a second FS: another process's view
	resumable(g)                   // small files, received as partials here
	defer g.Close()
	meta := func(c []byte) tree.Entry {
		return tree.Entry{Path: "f", Kind: tree.File, Size: int64(len(c)), Mode: 0o644, Hash: xxhash.Sum64(c)}
	}
	one, two := bytes.Repeat([]byte("1"), 64<<10), bytes.Repeat([]byte("2"), 64<<10)

	// Deterministic: while the first holds the partial, the second is
	// refused, from the same FS and from another.
	w, err := f.CreateFile(ctx, meta(one), tree.Entry{})
	if err != nil {
		t.Fatal(err)
	}
	w.WriteAt(one[:100], 0)
	for name, ep := range map[string]*FS{"same FS": f, "other FS": g} {
		if w2, err := ep.CreateFile(ctx, meta(two), tree.Entry{}); !errors.Is(err, endpoint.ErrChanged) {
			if err == nil {
				w2.Abort()
			}
			t.Fatalf("%s: second writer while the first holds the partial: %v, want ErrChanged", name, err)
		}
	}
	w.WriteAt(one[100:], 100)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "f")); !bytes.Equal(got, one) {
		t.Fatal("first writer's file differs")
	}
	os.Remove(filepath.Join(root, "f"))

	// Racing: in every round exactly one of two writers commits, the
	// other gets ErrChanged, and the file is one content, never a mix.
	for round := range 50 {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, ep := range []*FS{f, g} {
			content := [][]byte{one, two}[i]
			wg.Add(1)
			go func() {
				defer wg.Done()
				w, err := ep.CreateFile(ctx, meta(content), tree.Entry{})
				if err != nil {
					errs[i] = err
					return
				}
				// Several writes, so the two would interleave if they shared the partial.
				for off := 0; off < len(content); off += 4 << 10 {
					if _, err := w.WriteAt(content[off:off+4<<10], int64(off)); err != nil {
						w.Abort()
						errs[i] = err
						return
					}
				}
				errs[i] = w.Commit()
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, endpoint.ErrChanged):
				t.Fatalf("round %d: %v, want success or ErrChanged", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d writers succeeded (%v), want exactly 1", round, ok, errs)
		}
		got, err := os.ReadFile(filepath.Join(root, "f"))
		if err != nil || !bytes.Equal(got, one) && !bytes.Equal(got, two) {
			t.Fatalf("round %d: committed file is not one writer's content (%v)", round, err)
		}
		if err := os.Remove(filepath.Join(root, "f")); err != nil {
			t.Fatal(err)
		}
		// A loser that created its partial just after the winner's commit
		// fails at its own commit and keeps it, with ferry's marker, for
		// a resume (the next round reuses it); a loser of the race to
		// create may leave its empty marker (see createLocked). Nothing
		// else may remain.
		ents, _ := os.ReadDir(root)
		for _, en := range ents {
			if en.Name() != "f.partial" && en.Name() != "f.partial"+tree.CheckpointSuffix {
				t.Fatalf("round %d: leftovers %v", round, ents)
			}
		}
	}
}
