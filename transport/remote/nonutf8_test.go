package remote_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint/endpointtest"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/transport/remote"
)

// TestPassWithNonUTF8NamesOnBothSides: a local name that is not UTF-8 made
// every upload fail (the server dropped the connection on a message it
// could not decode), and one on the server made its listing unreadable.
// Both are now reported as problems and the rest syncs.
func TestPassWithNonUTF8NamesOnBothSides(t *testing.T) {
	e := newEnv(t, nil)
	remoteDir := filepath.Join(e.root, "docs")
	localDir := t.TempDir()
	endpointtest.Build(t, localDir, endpointtest.Dir{"mine.txt": "from local"})
	endpointtest.Build(t, remoteDir, endpointtest.Dir{"theirs.txt": "from remote"})
	for _, f := range []string{filepath.Join(localDir, "bad\xff"), filepath.Join(remoteDir, "also\xfe bad"), filepath.Join(remoteDir, `back\slash`)} {
		if err := os.WriteFile(f, []byte("stays"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ep := e.mustDial(func(o *remote.Options) { o.Path = "/docs" })
	db, err := snapshot.Open(filepath.Join(t.TempDir(), "job.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	job := config.Job{Name: "docs", Local: localDir, Remote: "ferry://tester@host/docs", Direction: config.TwoWay,
		MaxDelete: config.Limit{IsPercent: true, Percent: 50}}
	rec, err := syncer.Pass(context.Background(), syncer.Options{Job: job, Local: local(t, localDir), Remote: ep, DB: db})
	if err != nil || rec.Halted != "" {
		t.Fatalf("pass: %+v %v", rec, err)
	}
	if rec.Problems != 2 {
		t.Errorf("pass reported %d problems, want 2 (one non-UTF-8 name per side): %+v", rec.Problems, rec)
	}
	for _, c := range []struct{ path, want string }{
		{filepath.Join(remoteDir, "mine.txt"), "from local"},
		{filepath.Join(localDir, "theirs.txt"), "from remote"},
		{filepath.Join(localDir, "bad\xff"), "stays"},
		{filepath.Join(remoteDir, "also\xfe bad"), "stays"},
		{filepath.Join(remoteDir, `back\slash`), "stays"},
	} {
		got, err := os.ReadFile(c.path)
		if err != nil || string(got) != c.want {
			t.Errorf("%q: %q %v, want %q", c.path, got, err, c.want)
		}
	}
	for _, dir := range []string{localDir, remoteDir} {
		ents, _ := os.ReadDir(dir)
		for _, en := range ents {
			if strings.Contains(en.Name(), "\uFFFD") {
				t.Errorf("a replacement name was created in %s: %q", dir, en.Name())
			}
		}
	}
}
