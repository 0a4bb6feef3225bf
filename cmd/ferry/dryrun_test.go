package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// snapshotDir lists every path below root with its size and mtime, to
// show that nothing changed.
func snapshotDir(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = fi.Mode().String() + " " + fi.ModTime().String() + " " + string(rune(fi.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSyncDryRunThroughServe: `ferry sync JOB --dry-run` against a real
// ferry serve prints the plan (creates, updates, deletes, renames, bytes
// to send), changes neither folder, and the pass after it does what it
// said; a plan that would halt exits 3 with the halt, and still changes
// nothing.
func TestSyncDryRunThroughServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	cfgPath := s.jobs(t, "    direction: two-way\n")
	write(t, filepath.Join(s.local, "keep.txt"), "keep")
	write(t, filepath.Join(s.local, "gone.txt"), "gone")
	write(t, filepath.Join(s.local, "edit.txt"), "v1")
	write(t, filepath.Join(s.local, "old-name.txt"), strings.Repeat("moved content ", 100))
	syncOnce(t, ctx, cfgPath)

	write(t, filepath.Join(s.local, "new.txt"), "brand new")
	write(t, filepath.Join(s.served, "edit.txt"), "v2 from the server")
	if err := os.Remove(filepath.Join(s.local, "gone.txt")); err != nil {
		t.Fatal(err)
	}
	mv(t, filepath.Join(s.local, "old-name.txt"), filepath.Join(s.local, "new-name.txt"))
	// A partial file of ferry's that no transfer asked for in two days,
	// on each side: a pass removes it, a dry run (through ferry serve too)
	// leaves it.
	old := time.Now().Add(-48 * time.Hour)
	var stale []string
	for _, root := range []string{s.local, s.served} {
		for _, name := range []string{"abandoned.bin.partial", "abandoned.bin.partial.ferry-ckpt"} {
			p := filepath.Join(root, name)
			write(t, p, "")
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
			stale = append(stale, p)
		}
	}
	beforeL, beforeS := snapshotDir(t, s.local), snapshotDir(t, s.served)

	var out, stderr strings.Builder
	// The flag after the job, as a user types it.
	code := run(ctx, &env{stdout: &out, stderr: &stderr}, []string{"sync", "--config", cfgPath, "j", "--dry-run"})
	if code != exitOK {
		t.Fatalf("dry run exited %d\n%s\n%s", code, out.String(), stderr.String())
	}
	for _, want := range []string{
		"dry run: nothing was changed",
		"to local: created 0, updated 1, deleted 0, renamed 0, copied 0, conflict copies 0; send 1 files, 18 B",
		"to remote: created 1, updated 0, deleted 1, renamed 1, copied 0, conflict copies 0; send 1 files, 9 B",
		"local  update   edit.txt (18 B)",
		"remote create   new.txt (9 B)",
		"remote delete   gone.txt",
		"remote rename   new-name.txt from old-name.txt",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out.String())
		}
	}
	if a, b := snapshotDir(t, s.local), snapshotDir(t, s.served); !reflect.DeepEqual(a, beforeL) || !reflect.DeepEqual(b, beforeS) {
		for _, d := range []struct{ before, after map[string]string }{{beforeL, a}, {beforeS, b}} {
			for p, v := range d.after {
				if d.before[p] != v {
					t.Errorf("%s: %q -> %q", p, d.before[p], v)
				}
			}
			for p := range d.before {
				if _, ok := d.after[p]; !ok {
					t.Errorf("%s removed", p)
				}
			}
		}
		t.Fatalf("the dry run changed a folder")
	}

	// Over the deletion limit: exit 3, the halt said, nothing changed.
	strict := s.jobs(t, "    direction: two-way\n    max_delete: 0\n")
	out.Reset()
	stderr.Reset()
	if code := run(ctx, &env{stdout: &out, stderr: &stderr}, []string{"sync", "--dry-run", "--config", strict, "j"}); code != exitHalted {
		t.Fatalf("dry run over max_delete exited %d, want %d\n%s\n%s", code, exitHalted, out.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "max_delete") {
		t.Errorf("the halt does not name max_delete:\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(s.served, "gone.txt")); err != nil {
		t.Fatalf("a halted dry run deleted gone.txt on the server: %v", err)
	}

	cfgPath = s.jobs(t, "    direction: two-way\n")
	got := syncOnce(t, ctx, cfgPath)
	if !strings.Contains(got, "created 1, updated 1, renamed 1, copied 0, deleted 1") {
		t.Errorf("the pass after the dry run did otherwise:\n%s", got)
	}
	for _, p := range stale {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("the pass after the dry run kept the stale %s", p)
		}
	}
}
