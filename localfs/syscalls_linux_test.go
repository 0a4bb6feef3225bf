package localfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/internal/procio"
	"github.com/ferry-sync/ferry/tree"
)

// readCalls is this process's count of read system calls so far.
func readCalls(t *testing.T) int64 {
	t.Helper()
	n, err := procio.ReadCalls()
	if err != nil {
		t.Skip(err)
	}
	return n
}

// TestScanReadsEachSmallFileOnce: hashing a file reads the size its fstat
// gave and stops there; a read on to the end of file, which the fstat and
// lstat after it make useless, was one system call per file of a first
// sync's scan. An empty file is not read at all.
func TestScanReadsEachSmallFileOnce(t *testing.T) {
	root := t.TempDir()
	const files = 200
	for i := range files {
		data := bytes.Repeat([]byte{byte(i)}, 100+i*10)
		if i%50 == 0 {
			data = nil
		}
		if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("f%03d", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := newFS(t, root, Options{})
	defer f.Close()
	hashed := countHashes(f)
	before := readCalls(t)
	got := scanAll(t, f)
	reads := readCalls(t) - before
	if len(got) != files || hashed.Load() != files {
		t.Fatalf("scanned %d entries, hashed %d, want %d", len(got), hashed.Load(), files)
	}
	for _, e := range got {
		data, err := os.ReadFile(filepath.Join(root, e.Path))
		if err != nil {
			t.Fatal(err)
		}
		if e.Hash != xxhash.Sum64(data) || e.Problem != "" {
			t.Fatalf("%s: hash %016x, problem %q; want %016x", e.Path, e.Hash, e.Problem, xxhash.Sum64(data))
		}
	}
	// The slack is for whatever else the process reads meanwhile.
	if want := int64(files - files/50); reads > want+20 {
		t.Fatalf("the scan made %d read calls for %d non-empty files, want about one each", reads, want)
	}
}

// TestScanCatchesFileGrownWhileHashed: since the hash reads only the size
// the scan saw, a file that grows while it is read is caught by the stat
// after the read, and hashed again as it is now.
func TestScanCatchesFileGrownWhileHashed(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "f")
	if err := os.WriteFile(p, []byte("short"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := newFS(t, root, Options{})
	defer f.Close()
	grown := false
	f.afterHash = func(string) {
		if grown {
			return
		}
		grown = true
		fh, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer fh.Close()
		if _, err := fh.WriteString(" and longer"); err != nil {
			t.Error(err)
		}
	}
	got := scanAll(t, f)
	if len(got) != 1 || got[0].Size != int64(len("short and longer")) || got[0].Hash != xxhash.Sum64String("short and longer") {
		t.Fatalf("scan of a file grown while hashed: %+v, want it hashed again as grown", got)
	}
}

// TestSmallNewFileIsCheckedAtCommit: CreateFile of a small new file does
// not lstat the destination (one system call in thirty of a first sync);
// the rename at Commit, which cannot replace anything, is the check. What
// appeared there is left as it is, and the Commit fails with ErrChanged
// and leaves no temporary file.
func TestSmallNewFileIsCheckedAtCommit(t *testing.T) {
	for _, in := range []string{"file", "dir"} {
		t.Run(in, func(t *testing.T) {
			root := t.TempDir()
			f := newFS(t, root, Options{})
			defer f.Close()
			p := filepath.Join(root, "f")
			if in == "dir" {
				if err := os.Mkdir(p, 0o755); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(p, []byte("theirs"), 0o644); err != nil {
				t.Fatal(err)
			}
			content := []byte("ours")
			meta := tree.Entry{Path: "f", Kind: tree.File, Size: int64(len(content)), Mode: 0o644, Mtime: time.Now().UnixNano(), Hash: xxhash.Sum64(content)}
			w, err := f.CreateFile(context.Background(), meta, tree.Entry{})
			if err != nil {
				t.Fatalf("CreateFile of a small new file over a %s: %v, want the check left to Commit", in, err)
			}
			if _, err := w.WriteAt(content, 0); err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(); !errors.Is(err, endpoint.ErrChanged) {
				t.Fatalf("Commit over a %s that appeared: %v, want ErrChanged", in, err)
			}
			des, err := os.ReadDir(root)
			if err != nil {
				t.Fatal(err)
			}
			if len(des) != 1 || des[0].Name() != "f" {
				t.Fatalf("folder holds %v, want only f", des)
			}
			if in == "file" {
				if data, err := os.ReadFile(p); err != nil || string(data) != "theirs" {
					t.Fatalf("f holds %q, %v; want theirs", data, err)
				}
			} else if fi, err := os.Lstat(p); err != nil || !fi.IsDir() {
				t.Fatalf("f is %v, %v; want the directory", fi, err)
			}
		})
	}
}
