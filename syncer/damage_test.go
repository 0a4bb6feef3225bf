package syncer_test

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/tree"
)

// twentySynced is a job whose first pass synced files f00..f19 (fNN holds
// "vN"), and the ancestor that pass recorded.
func twentySynced(t *testing.T) (*env, []tree.Entry) {
	t.Helper()
	e := newEnv(t)
	for i := range 20 {
		e.write("local", fmt.Sprintf("f%02d", i), fmt.Sprintf("v%d", i))
	}
	e.mustPass()
	anc, err := e.db.Ancestor()
	if err != nil {
		t.Fatal(err)
	}
	return e, anc
}

// TestDamageFoundMidRunDeletesNothing: a snapshot damaged while it is open
// (an agent keeps it open for days) is caught when the pass reads the
// ancestor. The pass then has no ancestor: a local deletion is not
// propagated (the file comes back), a file both sides changed becomes a
// conflict, the record says why, and the next pass is clean.
func TestDamageFoundMidRunDeletesNothing(t *testing.T) {
	e, anc := twentySynced(t)
	e.write("local", "f07", "local edit")
	e.write("remote", "f07", "remote edit")
	if err := os.Remove(e.localDir + "/f05"); err != nil {
		t.Fatal(err)
	}
	damageHashes(t, e.db.Path(), anc[10:18])

	rec := e.mustPass()
	if rec.Recovered == nil || !strings.Contains(rec.Recovered.Reason, "checksum") || rec.Recovered.MovedTo == "" {
		t.Fatalf("the pass record does not say the snapshot was replaced: %+v", rec.Recovered)
	}
	if rec.Deleted != 0 {
		t.Fatalf("the pass deleted %d entries without a trustworthy ancestor", rec.Deleted)
	}
	if got, ok := e.read("local", "f05"); !ok || got != "v5" {
		t.Fatalf("f05 was not copied back: %q %v", got, ok)
	}
	if _, ok := e.read("remote", "f05"); !ok {
		t.Fatal("f05 was deleted on the remote")
	}
	if rec.Conflicts != 1 {
		t.Fatalf("%d conflicts, want 1 (f07 differs on both sides)", rec.Conflicts)
	}
	if _, err := os.Stat(rec.Recovered.MovedTo); err != nil {
		t.Fatalf("the damaged file is not where the record says: %v", err)
	}
	again := e.mustPass()
	if again.Recovered != nil || again.Created+again.Updated+again.Deleted != 0 {
		t.Fatalf("the pass after recovery: %+v", again)
	}
}

// damageHashes overwrites the hash bytes of each entry's ancestor record
// in every copy bbolt left in the file, the live one among them.
func damageHashes(t *testing.T, path string, entries []tree.Entry) {
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
	for _, e := range entries {
		rec := append([]byte(strings.ReplaceAll(e.Path, "/", "\x00")), snapshot.AppendEntry(nil, e)...)
		if e.Hash == 0 || !bytes.Contains(b, rec) {
			t.Fatalf("no ancestor record of %q ending in its hash", e.Path)
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
	}
}
