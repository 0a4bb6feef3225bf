package main

import (
	"context"
	"fmt"
	"os"
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

// firstSyncTree writes what both first-sync tests sync: small files only
// the local side holds, one only the remote holds, and two both hold, of
// the same content and of different content of one size.
func firstSyncTree(t *testing.T, local, remote string) (localOnly []string) {
	t.Helper()
	for i := range 40 {
		p := fmt.Sprintf("d%d/f%02d.txt", i%3, i)
		write(t, filepath.Join(local, p), strings.Repeat(fmt.Sprint(i), 1+i))
		localOnly = append(localOnly, p)
	}
	write(t, filepath.Join(remote, "remote-only.txt"), "from the remote")
	write(t, filepath.Join(local, "same.txt"), "the same")
	write(t, filepath.Join(remote, "same.txt"), "the same")
	write(t, filepath.Join(local, "differ.txt"), "local 1")
	write(t, filepath.Join(remote, "differ.txt"), "remote2")
	return localOnly
}

// checkFirstSync runs the first `ferry sync` and the one after it: the
// first creates what each side lacks and makes one conflict copy (differ.txt),
// the second moves nothing; the snapshot records every file with the hash
// of what both sides hold. With cacheSide, that side's scan cache holds,
// right after the first pass, the hash of each of paths, though the
// first pass's scan did not read them: the copy did.
func checkFirstSync(t *testing.T, ctx context.Context, cfgPath, local, remote string, cacheSide string, paths []string) {
	t.Helper()
	code, out, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfgPath, "j")
	if code != exitOK || !strings.Contains(out, "conflicts 1,") {
		t.Fatalf("first sync: exit %d, want one conflict:\n%s%s", code, out, stderr)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if cacheSide != "" {
		db, err := snapshot.Open(cfg.DBPath("j"))
		if err != nil {
			t.Fatal(err)
		}
		cache, err := db.Cache(cacheSide)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			e, ok := cache.Lookup(p)
			if want := xxhash.Sum64String(read(t, filepath.Join(local, p))); !ok || e.Hash != want {
				t.Errorf("after the first sync the %s scan cache has %s as %+v (%v), want hash %016x", cacheSide, p, e, ok, want)
			}
		}
		db.Close()
	}
	code, out, stderr = runCLI(t, ctx, "sync", "--config", cfgPath, "j")
	if code != exitOK || !strings.Contains(out, "created 0, updated 0, deleted 0, conflicts 0, bytes 0 ") {
		t.Fatalf("the sync after the first moved something: exit %d\n%s%s", code, out, stderr)
	}
	db, err := snapshot.Open(cfg.DBPath("j"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
		for _, root := range []string{local, remote} {
			if got := xxhash.Sum64String(read(t, filepath.Join(root, filepath.FromSlash(a.Path)))); a.Hash != got {
				t.Errorf("the snapshot records %s with hash %016x; %s holds content hashing to %016x", a.Path, a.Hash, root, got)
			}
		}
	}
	// 40 local files, remote-only, same, differ and its conflict copy.
	if files != 44 {
		t.Errorf("the snapshot records %d files, want 44", files)
	}
}

// TestFirstSyncLocalHashesAsItCopies: `ferry sync` of a first two-way sync
// between two local folders, which hashes what only one side holds as it
// copies it: the files land, the paths both sides hold are compared by
// content (a conflict copy for differ.txt, nothing for same.txt), the
// snapshot and the local scan cache hold the copied content's hashes, and
// the next sync moves nothing.
func TestFirstSyncLocalHashesAsItCopies(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	local, remote := filepath.Join(dir, "local"), filepath.Join(dir, "remote")
	for _, d := range []string{local, remote} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	paths := firstSyncTree(t, local, remote)
	cfgPath := filepath.Join(dir, "jobs.yaml")
	write(t, cfgPath, fmt.Sprintf("state_dir: %s\njobs:\n  - name: j\n    local: %s\n    remote: %s\n    direction: two-way\n",
		filepath.Join(dir, "state"), local, remote))
	checkFirstSync(t, ctx, cfgPath, local, remote, syncer.SideLocal, paths)
}

// TestFirstSyncServedIsUnchanged: the same first sync against a real
// `ferry serve` (where files are hashed by the scans, as before) gives
// the same result.
func TestFirstSyncServedIsUnchanged(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	firstSyncTree(t, s.local, s.served)
	cfgPath := s.jobs(t, "    direction: two-way\n")
	checkFirstSync(t, ctx, cfgPath, s.local, s.served, "", nil)
}
