package endpoint_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/localfs"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/tree"
)

// listCounter counts the lists Chunks is asked for: each costs a read of
// the whole file when none was kept.
type listCounter struct {
	*localfs.FS
	chunks int
}

func (c *listCounter) Chunks(ctx context.Context, p string, e tree.Entry) (chunk.List, error) {
	c.chunks++
	return c.FS.Chunks(ctx, p, e)
}

type partial struct{ b []byte }

func (p *partial) WriteAt(b []byte, off int64) (int, error) {
	if end := int(off) + len(b); end > len(p.b) {
		p.b = append(p.b, make([]byte, end-len(p.b))...)
	}
	return copy(p.b[off:], b), nil
}

// TestSeedFromUsesTheKeptListWithoutReadingForOne: with the list its scan
// kept, SeedFrom builds from it and asks Chunks for nothing (which would
// read the whole file only to copy from it again); without a kept list it
// reads the file once itself. Either way the shared bytes land right.
func TestSeedFromUsesTheKeptListWithoutReadingForOne(t *testing.T) {
	root := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 5))
	old := make([]byte, 3<<20)
	for i := range old {
		old[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(filepath.Join(root, "big.bin"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	next := append(append([]byte(nil), old...), "appended"...)
	c, _ := chunk.New(int64(len(next)), nil)
	c.Write(next)
	nl, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	db, err := snapshot.Open(filepath.Join(t.TempDir(), "job.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cache, err := db.Cache("remote")
	if err != nil {
		t.Fatal(err)
	}
	for _, kept := range []bool{true, false} {
		opts := localfs.Options{}
		if kept {
			opts.Cache, opts.Chunks = cache, cache
		}
		fs, err := localfs.New(root, opts)
		if err != nil {
			t.Fatal(err)
		}
		ep := &listCounter{FS: fs}
		var base tree.Entry
		if err := ep.Scan(context.Background(), endpoint.ScanOptions{}, func(e tree.Entry) error {
			if e.Path == "big.bin" {
				base = e
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if base.Hash != xxhash.Sum64(old) {
			t.Fatalf("scan gave %+v", base)
		}
		w := &partial{}
		held, err := endpoint.SeedFrom(context.Background(), ep, base, w, nl)
		if err != nil {
			t.Fatal(err)
		}
		if ep.chunks != 0 {
			t.Errorf("kept list %v: SeedFrom asked Chunks %d times", kept, ep.chunks)
		}
		if n := chunk.Bytes(held); n < int64(len(old))*9/10 {
			t.Errorf("kept list %v: seeded %d of %d bytes", kept, n, len(old))
		}
		for _, h := range held {
			if !bytes.Equal(w.b[h.Off:h.Off+h.Len], next[h.Off:h.Off+h.Len]) {
				t.Fatalf("kept list %v: range %v holds wrong bytes", kept, h)
			}
		}
		fs.Close()
	}
}
