package syncer_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/internal/procio"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/tree"
)

// readSyscalls is this process's count of read system calls so far.
func readSyscalls(t *testing.T) int64 {
	t.Helper()
	n, err := procio.ReadCalls()
	if err != nil {
		t.Skip(err)
	}
	return n
}

// hashingPass runs a pass between two local folders that hash as they
// copy (Options.HashWhileCopying), as cmd/ferry runs one.
func (e *env) hashingPass() (snapshot.PassRecord, error) {
	e.t.Helper()
	o := e.options()
	o.HashWhileCopying = true
	return syncer.Pass(context.Background(), o)
}

// checkAncestorHashes fails unless every file the ancestor records has the
// hash of what both sides hold at its path.
func (e *env) checkAncestorHashes() int {
	e.t.Helper()
	anc, err := e.db.Ancestor()
	if err != nil {
		e.t.Fatal(err)
	}
	files := 0
	for _, a := range anc {
		if a.Kind != tree.File {
			continue
		}
		files++
		for _, side := range []string{"local", "remote"} {
			got, ok := e.read(side, a.Path)
			if !ok || a.Hash != xxhash.Sum64String(got) || a.Hash == 0 {
				e.t.Errorf("the ancestor records %s with hash %016x; the %s side holds %q (hash %016x)", a.Path, a.Hash, side, got, xxhash.Sum64String(got))
			}
		}
	}
	return files
}

// TestFirstSyncReadsEachFileOnce: on a first sync between two local
// folders, the sending side's scan does not read the files the other side
// lacks (their hash waits for the copy), so each is read once, by the
// copy, not twice; and the snapshot records each with the hash of what
// was copied, so the next pass moves nothing.
func TestFirstSyncReadsEachFileOnce(t *testing.T) {
	e := newEnv(t)
	const files = 300
	for i := range files {
		e.write("local", fmt.Sprintf("d%d/f%03d", i%7, i), strings.Repeat(strconv.Itoa(i), 1+i%50))
	}
	before := readSyscalls(t)
	first, err := e.hashingPass()
	reads := readSyscalls(t) - before
	if err != nil || first.Skipped != 0 {
		t.Fatalf("first pass: %v, skipped %d", err, first.Skipped)
	}
	if first.Created != files+7 {
		t.Errorf("created %d, want %d files and 7 directories", first.Created, files)
	}
	t.Logf("%d read calls for a first sync of %d files", reads, files)
	// Hashing at scan time read every file twice (2 × 300); the slack is
	// for whatever else the process reads meanwhile.
	if reads > files+files/3 {
		t.Errorf("the first sync made %d read calls for %d files: the scan read them before the copy did", reads, files)
	}
	if n := e.checkAncestorHashes(); n != files {
		t.Errorf("the ancestor records %d files, want %d", n, files)
	}
	rec := e.mustPass()
	if rec.Created+rec.Updated+rec.Deleted+rec.Conflicts+rec.Skipped != 0 || rec.Bytes != 0 {
		t.Errorf("the pass after the first sync did something: %+v", rec)
	}
}

// TestFirstSyncBothSidesHashedBeforeCompare: on a two-way first sync, a
// path both sides hold is hashed before reconcile compares it, though
// the scans left files unhashed: different content of one size is a
// conflict (kept as a conflict copy), the same content is in sync and
// nothing moves; a file only one side holds is copied.
func TestFirstSyncBothSidesHashedBeforeCompare(t *testing.T) {
	e := newEnv(t)
	e.write("local", "same.txt", "identical")
	e.write("remote", "same.txt", "identical")
	e.write("local", "differ.txt", "local one") // same size, other content
	e.write("remote", "differ.txt", "remote 1!")
	e.write("local", "only-local.txt", "L")
	e.write("remote", "only-remote.txt", "R")
	first, err := e.hashingPass()
	if err != nil || first.Skipped != 0 {
		t.Fatalf("first pass: %v, skipped %d", err, first.Skipped)
	}
	if first.Conflicts != 1 {
		t.Errorf("conflicts %d, want 1 (differ.txt)", first.Conflicts)
	}
	got := dump(t, e.localDir)
	if strings.Join(got, "\n") != strings.Join(dump(t, e.remoteDir), "\n") {
		t.Errorf("sides differ:\nlocal  %q\nremote %q", got, dump(t, e.remoteDir))
	}
	copies := 0
	for _, l := range got {
		if strings.Contains(l, "conflict") {
			copies++
			if !strings.Contains(l, `"local one"`) && !strings.Contains(l, `"remote 1!"`) {
				t.Errorf("conflict copy %s holds neither side's content", l)
			}
		}
	}
	if copies != 1 || len(got) != 5 {
		t.Errorf("want same.txt, differ.txt, its conflict copy and the two one-sided files, got %q", got)
	}
	e.checkAncestorHashes()
	rec := e.mustPass()
	if rec.Created+rec.Updated+rec.Deleted+rec.Conflicts+rec.Skipped != 0 || rec.Bytes != 0 {
		t.Errorf("the pass after the first sync did something: %+v", rec)
	}
}

// changingReader changes its file on disk once read whole, just before
// the copy asks it for its hash: a write racing the copy, at the one
// moment that matters, without sleeps.
type changingReader struct {
	endpoint.HashingReader
	change func()
}

func (r changingReader) Sum(expect tree.Entry) (uint64, error) {
	r.change()
	return r.HashingReader.Sum(expect)
}

type changingSource struct {
	endpoint.Endpoint
	change func()
	mu     sync.Mutex // the copies open files concurrently
	path   string     // "" once the change is handed out
}

func (c *changingSource) OpenFile(ctx context.Context, p string) (endpoint.FileReader, error) {
	r, err := c.Endpoint.OpenFile(ctx, p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil || p != c.path {
		return r, err
	}
	hr, ok := r.(endpoint.HashingReader)
	if !ok {
		r.Close()
		return nil, errors.New("the local folder's reader does not hash")
	}
	c.path = "" // once
	return changingReader{hr, c.change}, nil
}

// TestFirstSyncSourceChangedDuringCopy: a file that changes while the
// first sync copies it (after it was read, before its hash is taken) is
// not committed, nor recorded with a hash of content the copy did not
// read: the pass skips it, and the next pass sends it as it is then.
func TestFirstSyncSourceChangedDuringCopy(t *testing.T) {
	e := newEnv(t)
	e.job.Direction = config.LocalToRemote
	e.write("local", "a.txt", "first")
	e.write("local", "b.txt", "other")
	full := filepath.Join(e.localDir, "a.txt")
	changed := false
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
		if changed {
			return l, r
		}
		return &changingSource{Endpoint: l, path: "a.txt", change: func() {
			changed = true
			if err := os.WriteFile(full, []byte("second"), 0o644); err != nil {
				t.Error(err)
			}
			now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			if err := os.Chtimes(full, now, now); err != nil {
				t.Error(err)
			}
		}}, r
	}
	first, err := e.hashingPass()
	if !changed {
		t.Fatal("the copy never asked for the hash of a.txt")
	}
	if first.Skipped != 1 {
		t.Errorf("first pass: %v, skipped %d, want a.txt skipped", err, first.Skipped)
	}
	if got, ok := e.read("remote", "a.txt"); ok {
		t.Errorf("a.txt changed during its copy landed as %q", got)
	}
	anc, aerr := e.db.Ancestor()
	if aerr != nil {
		t.Fatal(aerr)
	}
	for _, a := range anc {
		if a.Path == "a.txt" {
			t.Errorf("a.txt, changed during its copy, is recorded: %+v", a)
		}
	}
	e.mustPass()
	if got, _ := e.read("remote", "a.txt"); got != "second" {
		t.Errorf("after the next pass the remote holds a.txt %q, want \"second\"", got)
	}
	if n := e.checkAncestorHashes(); n != 2 {
		t.Errorf("the ancestor records %d files, want 2", n)
	}
}
