package s3fs

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/endpoint/endpointtest"
	"github.com/ferry-sync/ferry/tree"
)

// TestConformanceFake runs the conformance suite on an in-process fake
// (unit test only; TestConformanceSeaweed is the acceptance run).
func TestConformanceFake(t *testing.T) {
	endpointtest.RunBacking(t, fakeStore(t).factory())
}

// TestNodesFake runs the several-nodes cases on the fake.
func TestNodesFake(t *testing.T) {
	nodeTests(t, fakeStore(t), false)
}

// TestOpenPrunesOldSpools: a spool no writer touched for a week (a
// transfer abandoned for good) is removed when the root is opened; a
// recent one is kept for its resume.
func TestOpenPrunesOldSpools(t *testing.T) {
	s := fakeStore(t)
	cfg := s.config(t, "spool", nil)
	dir := filepath.Join(cfg.CacheDir, "spool")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	old, recent := filepath.Join(dir, "old"), filepath.Join(dir, "recent")
	for _, p := range []string{old, recent} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	weekAgo := time.Now().Add(-spoolMaxAge - time.Hour)
	if err := os.Chtimes(old, weekAgo, weekAgo); err != nil {
		t.Fatal(err)
	}
	f, err := open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a week-old spool is still there: %v", err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("a recent spool was removed: %v", err)
	}
}

// TestNewSmallFileCostsFiveRequests pins what a new small file in an
// existing directory costs the store: the parent checked (HEAD, one-key
// LIST), the destination checked (HEAD, one-key LIST), one conditional
// PUT. It was seven before a one-key listing replaced HEAD of the marker
// and its body.
func TestNewSmallFileCostsFiveRequests(t *testing.T) {
	s := fakeStore(t)
	c := newCounter()
	f := s.open(t, "cost", c)
	ctx := context.Background()
	if err := f.Mkdir(ctx, "d", 0o755); err != nil {
		t.Fatal(err)
	}
	before := c.total()
	content := []byte("small")
	if err := writeAll(t, f, fileMeta("d/new", content), tree.Entry{}, content).Commit(); err != nil {
		t.Fatal(err)
	}
	if n := c.total() - before; n != 5 {
		t.Fatalf("a new small file took %d requests, want 5 (%v)", n, c.calls)
	}
}
