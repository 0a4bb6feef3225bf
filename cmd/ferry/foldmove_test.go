package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/internal/foldfs"
)

// TestFolderMovedIntoOtherSpellingOfItselfSyncsOntoFoldingFolder: Docs/a
// moved to docs/sub/a (Docs removed) must reach a case-folding folder. As
// a rename out of Docs, it kept Docs until the rename, so docs could not be
// made there and every pass left the path undone.
func TestFolderMovedIntoOtherSpellingOfItselfSyncsOntoFoldingFolder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m := foldfs.MountT(t, foldfs.Options{FoldCase: true})
	dir := t.TempDir()
	local := filepath.Join(dir, "local")
	if err := os.MkdirAll(filepath.Join(local, "Docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(local, "Docs", "a"), "the content of a")
	cfg := filepath.Join(dir, "jobs.yaml")
	write(t, cfg, "state_dir: "+filepath.Join(dir, "state")+"\njobs:\n  - name: j\n    local: "+local+
		"\n    remote: "+m.Dir+"\n    direction: local-to-remote\n    max_delete: 100%\n")
	if code, out, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j"); code != exitOK {
		t.Fatalf("first sync: exit %d\n%s%s", code, out, stderr)
	}
	if err := os.MkdirAll(filepath.Join(local, "docs", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(local, "Docs", "a"), filepath.Join(local, "docs", "sub", "a")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(local, "Docs")); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j")
	if code != exitOK {
		t.Errorf("sync after the move: exit %d\n%s%s", code, out, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(m.Backing, "docs", "sub", "a")); err != nil || string(b) != "the content of a" {
		t.Errorf("folding folder docs/sub/a: %q, %v\n%s%s", b, err, out, stderr)
	}
}
