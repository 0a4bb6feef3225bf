package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/tree"
)

// TestDamagedSnapshotDeletesNothing damages a snapshot written by a real
// pass the way a bad disk sector would: 64 bytes inside a live page of
// ancestor records, in fields that still decode. The next `ferry sync`
// must notice, delete nothing (a file deleted locally since the last pass
// comes back instead), move the file aside, and say so in its output and
// in `ferry status`; the pass after that is clean again.
func TestDamagedSnapshotDeletesNothing(t *testing.T) {
	ctx := context.Background()
	cfgPath, local, remote := jobFixture(t, "    direction: two-way\n")
	for i := range 300 {
		write(t, filepath.Join(local, fmt.Sprintf("d%02d", i%10), fmt.Sprintf("f%04d", i)), fmt.Sprintf("content %d", i))
	}
	if code, _, stderr := runCLI(t, ctx, "sync", "--config", cfgPath, "j"); code != exitOK {
		t.Fatalf("first pass: exit %d: %s", code, stderr)
	}
	gone := filepath.Join("d03", "f0103")
	if err := os.Remove(filepath.Join(local, gone)); err != nil {
		t.Fatal(err)
	}

	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	dbPath := cfg.DBPath("j")
	db, err := snapshot.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	anc, err := db.Ancestor()
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	var victims []tree.Entry
	for _, e := range anc {
		if e.Kind == tree.File && strings.HasPrefix(e.Path, "d05/") && len(victims) < 8 {
			victims = append(victims, e)
		}
	}
	if n := overwriteHashes(t, dbPath, victims); n != 64 {
		t.Fatalf("damaged %d bytes, want 64", n)
	}

	code, out, stderr := runCLI(t, ctx, "sync", "--config", cfgPath, "j")
	if code != exitOK {
		t.Fatalf("pass on the damaged snapshot: exit %d: %s%s", code, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(remote, gone)); err != nil {
		t.Fatalf("the pass applied a deletion from the damaged snapshot: %v\n%s%s", err, out, stderr)
	}
	if got := read(t, filepath.Join(local, gone)); got != "content 103" {
		t.Errorf("%s was not copied back: %q", gone, got)
	}
	aside, _ := filepath.Glob(dbPath + ".corrupt-*")
	if len(aside) != 1 {
		t.Fatalf("moved-aside files: %q, want one", aside)
	}
	if !strings.Contains(out, "the snapshot was damaged") || !strings.Contains(out, aside[0]) || !strings.Contains(out, "deleted nothing") {
		t.Errorf("ferry sync does not say the snapshot was damaged and where it went:\n%s", out)
	}
	if !strings.Contains(stderr, "snapshot was damaged") {
		t.Errorf("the damage was not logged:\n%s", stderr)
	}
	_, st, _ := runCLI(t, ctx, "status", "--config", cfgPath)
	if !strings.Contains(st, "j: the snapshot was damaged") || !strings.Contains(st, "checksum") || !strings.Contains(st, aside[0]) {
		t.Errorf("ferry status does not show why:\n%s", st)
	}

	// The pass wrote a fresh snapshot: the next one has nothing to do.
	code, out, stderr = runCLI(t, ctx, "sync", "--config", cfgPath, "j")
	if code != exitOK || !strings.Contains(out, "created 0, updated 0, deleted 0, conflicts 0") || strings.Contains(out, "damaged") {
		t.Fatalf("pass after recovery: exit %d:\n%s%s", code, out, stderr)
	}
}

// overwriteHashes overwrites the 8 hash bytes of each entry's ancestor
// record, wherever the record sits in the file (bbolt leaves older copies
// in freed pages, so the live one is among them), and returns how many
// bytes of live records that is. The record is found by its key (the path
// with '/' as NUL) and encoded entry, which hold in every schema version.
func overwriteHashes(t *testing.T, path string, entries []tree.Entry) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for _, e := range entries {
		e.Ino = 0
		rec := append([]byte(strings.ReplaceAll(e.Path, "/", "\x00")), snapshot.AppendEntry(nil, e)...)
		if e.Hash == 0 || !bytes.Contains(b, rec) {
			t.Fatalf("no ancestor record of %q ending in its hash in %s", e.Path, path)
		}
		for off := 0; ; {
			i := bytes.Index(b[off:], rec)
			if i < 0 {
				break
			}
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, 8), int64(off+i+len(rec)-8)); err != nil {
				t.Fatal(err)
			}
			off += i + len(rec)
		}
		n += 8
	}
	return n
}
