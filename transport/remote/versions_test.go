package remote_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/tree"
	"github.com/ferry-sync/ferry/versions"
)

// TestVersionsThroughServe: the versions a served folder's store holds
// are listed through the control channel as the store lists them, and one
// is restored on the server byte-exact, with the file it replaces kept.
func TestVersionsThroughServe(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	at := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)
	store, err := versions.Open(e.root, versions.Options{Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	old := []byte("the first draft\x00\xff")
	write := func(rel string, b []byte) {
		t.Helper()
		p := filepath.Join(e.root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	write("docs/report.txt", old)
	if _, err := store.Keep("docs/report.txt", versions.Deleted); err != nil {
		t.Fatal(err)
	}
	write("docs/report.txt", []byte("ransomed"))
	write("other.txt", []byte("x"))
	if _, err := store.Keep("other.txt", versions.Replaced); err != nil {
		t.Fatal(err)
	}
	want, err := store.List("docs")
	if err != nil || len(want) != 1 {
		t.Fatalf("local list %v, %v", want, err)
	}

	ep := e.mustDial(nil)
	got, err := ep.ListVersions(ctx, "docs")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Path != "docs/report.txt" || !got[0].Time.Equal(at) || got[0].Reason != versions.Deleted ||
		got[0].Size != int64(len(old)) || !got[0].ModTime.Equal(want[0].ModTime) || got[0].Mode != want[0].Mode {
		t.Fatalf("listed %+v, want %+v", got, want)
	}
	if all, err := ep.ListVersions(ctx, ""); err != nil || len(all) != 2 {
		t.Fatalf("listing everything: %v, %v", all, err)
	}
	if err := ep.RestoreVersion(ctx, got[0], "docs/report.txt"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(e.root, "docs", "report.txt")); err != nil || string(b) != string(old) {
		t.Fatalf("restored %q, %v; want %q", b, err, old)
	}
	after, err := store.List("docs/report.txt")
	if err != nil || len(after) != 2 || after[1].Reason != versions.Restore || after[1].Size != int64(len("ransomed")) {
		t.Fatalf("the replaced file was not kept: %+v, %v", after, err)
	}

	// A version that is not there, and paths that leave the folder.
	missing := got[0]
	missing.Time = missing.Time.Add(time.Hour)
	if err := ep.RestoreVersion(ctx, missing, "docs/report.txt"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("restoring a version never kept: %v", err)
	}
	if _, err := ep.ListVersions(ctx, "../x"); !errors.Is(err, tree.ErrInvalidPath) {
		t.Errorf("listing ../x: %v", err)
	}
	if err := ep.RestoreVersion(ctx, got[0], "../outside.txt"); !errors.Is(err, tree.ErrInvalidPath) {
		t.Errorf("restoring to ../outside.txt: %v", err)
	}
	if err := ep.RestoreVersion(ctx, got[0], versions.Dir+"/x.txt"); err == nil {
		t.Error("restored into the version store")
	}
}
