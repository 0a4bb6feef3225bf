package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/tree"
)

// TestFirstSyncPushedToServeHashesAsItSends: `ferry sync` of a first
// local-to-remote sync to a real `ferry serve` over UDP scans the local
// folder without hashing it (the debug log says so), hashes each file as
// it sends it, and the server verifies that hash: the files land, the
// snapshot and the local scan cache hold the content's hashes, and the
// next sync moves nothing. A two-way job's scans still hash.
func TestFirstSyncPushedToServeHashesAsItSends(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	var paths []string
	for i := range 60 {
		p := fmt.Sprintf("d%d/f%02d.txt", i%3, i)
		write(t, filepath.Join(s.local, p), strings.Repeat(fmt.Sprint(i), 1+i*97))
		paths = append(paths, p)
	}
	cfgPath := s.jobs(t, "    direction: local-to-remote\n")
	code, out, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--log-level", "debug", "--config", cfgPath, "j")
	if code != exitOK || !strings.Contains(out, "created 63,") {
		t.Fatalf("first sync: exit %d, want 60 files and 3 directories created:\n%s%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "unhashed_local=true") {
		t.Errorf("the first sync's local scan hashed the files it sends; debug log:\n%s", stderr)
	}
	for _, p := range paths {
		if got, want := read(t, filepath.Join(s.served, p)), read(t, filepath.Join(s.local, p)); got != want {
			t.Errorf("%s: the server holds %d bytes, want %d", p, len(got), len(want))
		}
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	db, err := snapshot.Open(cfg.DBPath("j"))
	if err != nil {
		t.Fatal(err)
	}
	cache, err := db.Cache(syncer.SideLocal)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		e, ok := cache.Lookup(p)
		if want := xxhash.Sum64String(read(t, filepath.Join(s.local, p))); !ok || e.Hash != want {
			t.Errorf("after the first sync the local scan cache has %s as %+v (%v), want hash %016x", p, e, ok, want)
		}
	}
	anc, err := db.Ancestor()
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, a := range anc {
		if a.Kind != tree.File {
			continue
		}
		files++
		if want := xxhash.Sum64String(read(t, filepath.Join(s.served, filepath.FromSlash(a.Path)))); a.Hash != want {
			t.Errorf("the snapshot records %s with hash %016x, the server holds content hashing to %016x", a.Path, a.Hash, want)
		}
	}
	db.Close()
	if files != len(paths) {
		t.Errorf("the snapshot records %d files, want %d", files, len(paths))
	}
	code, out, stderr = runCLI(t, ctx, "sync", "--config", cfgPath, "j")
	if code != exitOK || !strings.Contains(out, "created 0, updated 0, deleted 0, conflicts 0, bytes 0 ") {
		t.Fatalf("the sync after the first moved something: exit %d\n%s%s", code, out, stderr)
	}

	// A two-way first sync compares what both sides hold: its scans hash.
	s2 := startServedJob(t, ctx)
	write(t, filepath.Join(s2.local, "a.txt"), "a")
	cfg2 := s2.jobs(t, "    direction: two-way\n")
	code, out, stderr = runCLI(t, ctx, "sync", "--accept-new-host-key", "--log-level", "debug", "--config", cfg2, "j")
	if code != exitOK || !strings.Contains(stderr, "unhashed_local=false unhashed_remote=false") {
		t.Errorf("two-way first sync: exit %d, want scans that hash:\n%s%s", code, out, stderr)
	}
}
