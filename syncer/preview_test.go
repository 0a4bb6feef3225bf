package syncer_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
)

// TestPreviewChangesNothing: a dry run reports the plan of the pass that
// follows it (same counts), and leaves both folders, the ancestor and the
// pass history as they were.
func TestPreviewChangesNothing(t *testing.T) {
	t.Run("local", func(t *testing.T) { testPreviewChangesNothing(t, newEnv(t)) })
	t.Run("ferry-tcp", func(t *testing.T) {
		e := newEnv(t)
		e.served = serve(t, e.remoteDir, config.TCP)
		testPreviewChangesNothing(t, e)
	})
}

func testPreviewChangesNothing(t *testing.T, e *env) {
	e.write("local", "keep.txt", "same")
	e.write("local", "gone.txt", "bye")
	e.write("local", "edit.txt", "v1")
	e.mustPass()
	e.write("local", "new.txt", "fresh content")
	e.write("remote", "edit.txt", "v2 from the remote")
	if err := os.Remove(filepath.Join(e.localDir, "gone.txt")); err != nil {
		t.Fatal(err)
	}
	e.write("local", "copy-of-keep.txt", "same")

	beforeL, beforeR := dump(t, e.localDir), dump(t, e.remoteDir)
	last, _, err := e.db.LastPass()
	if err != nil {
		t.Fatal(err)
	}
	plan, err := syncer.Preview(context.Background(), e.options())
	if err != nil {
		t.Fatal(err)
	}
	got := plan.Count()
	want := syncer.Counts{
		Local:  syncer.SideCounts{Updated: 1, Files: 1, Bytes: int64(len("v2 from the remote"))},
		Remote: syncer.SideCounts{Created: 2, Copied: 1, Deleted: 1, Files: 1, Bytes: int64(len("fresh content"))},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dry run counts %+v\nwant %+v", got, want)
	}
	if a, b := dump(t, e.localDir), dump(t, e.remoteDir); !reflect.DeepEqual(a, beforeL) || !reflect.DeepEqual(b, beforeR) {
		t.Errorf("a dry run changed the folders:\nlocal %v -> %v\nremote %v -> %v", beforeL, a, beforeR, b)
	}
	if now, _, _ := e.db.LastPass(); !reflect.DeepEqual(now, last) {
		t.Errorf("a dry run stored a pass record: %+v", now)
	}
	rec := e.mustPass()
	if rec.Created+rec.Copied != 2 || rec.Copied != 1 || rec.Deleted != 1 || rec.Updated != 1 {
		t.Errorf("the pass after the dry run did %s; the dry run promised 2 created (1 copied), 1 updated, 1 deleted", summary(rec))
	}
}

// TestPreviewHalts: a plan that would halt is reported as the same halt,
// and nothing is deleted.
func TestPreviewHalts(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"a", "b", "c", "d"} {
		e.write("local", p, p)
	}
	e.mustPass()
	for _, p := range []string{"a", "b", "c"} {
		if err := os.Remove(filepath.Join(e.localDir, p)); err != nil {
			t.Fatal(err)
		}
	}
	e.job.MaxDelete = config.Limit{Count: 1}
	_, err := syncer.Preview(context.Background(), e.options())
	var h *syncer.HaltError
	if !errors.As(err, &h) || !errors.Is(err, syncer.ErrHalted) {
		t.Fatalf("dry run over max_delete returned %v, want a halt", err)
	}
	if got, _ := e.read("remote", "a"); got != "a" {
		t.Error("a halted dry run deleted a file")
	}
}

// TestPreviewLeavesADamagedSnapshot: a dry run that finds the snapshot
// damaged says so and leaves the file where it is (a real pass replaces
// it).
func TestPreviewLeavesADamagedSnapshot(t *testing.T) {
	e, anc := twentySynced(t)
	damageHashes(t, e.db.Path(), anc[10:18])
	_, err := syncer.Preview(context.Background(), e.options())
	if !errors.Is(err, snapshot.ErrDamaged) || !strings.Contains(err.Error(), "dry run") {
		t.Fatalf("dry run over a damaged snapshot returned %v", err)
	}
	if r := e.db.TakeRecovery(); r != nil {
		t.Fatalf("the dry run replaced the snapshot: %+v", r)
	}
	if rec := e.mustPass(); rec.Recovered == nil {
		t.Fatal("the pass after the dry run found no damage: the dry run must have changed the snapshot")
	}
}
