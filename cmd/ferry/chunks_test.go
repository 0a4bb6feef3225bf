package main

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
)

// TestSyncKeepsChunkListsPerSide: `ferry sync` keeps the chunk list of a
// large file in the job's snapshot database for each side that scanned
// it: the local side at the first pass, the remote side (a local folder)
// once it has scanned the copy; a small file gets none.
func TestSyncKeepsChunkListsPerSide(t *testing.T) {
	ctx := context.Background()
	cfgPath, local, remote := jobFixture(t, "    direction: two-way\n")
	rng := rand.New(rand.NewPCG(9, 9))
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	write(t, filepath.Join(local, "d", "big"), string(data))
	write(t, filepath.Join(local, "small"), "small")
	for pass := range 2 {
		if code, out, stderr := runCLI(t, ctx, "sync", "--config", cfgPath, "j"); code != exitOK {
			t.Fatalf("pass %d: exit %d: %s%s", pass+1, code, out, stderr)
		}
	}

	c, _ := chunk.New(int64(len(data)), nil)
	c.Write(data)
	want, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	db, err := snapshot.Open(cfg.DBPath("j"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for side, root := range map[string]string{syncer.SideLocal: local, syncer.SideRemote: remote} {
		cache, err := db.Cache(side)
		if err != nil {
			t.Fatal(err)
		}
		e, l, ok, err := cache.LoadChunks("d/big")
		if err != nil || !ok {
			t.Fatalf("%s side: no chunk list kept for d/big (%v)", side, err)
		}
		fi, err := os.Lstat(filepath.Join(root, "d", "big"))
		if err != nil {
			t.Fatal(err)
		}
		if e.Hash != xxhash.Sum64(data) || e.Size != fi.Size() || e.Mtime != fi.ModTime().UnixNano() || e.Ino != inode(t, filepath.Join(root, "d", "big")) {
			t.Errorf("%s side: list kept for %+v, not for the file as it is", side, e)
		}
		if !reflect.DeepEqual(l, want) {
			t.Errorf("%s side: kept list of %d chunks is not the file's (%d)", side, len(l.Chunks), len(want.Chunks))
		}
		if _, _, ok, _ := cache.LoadChunks("small"); ok {
			t.Errorf("%s side: a list kept for a small file", side)
		}
	}
}
