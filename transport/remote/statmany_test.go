package remote_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/tree"
)

// TestStatManyMatchesStat: one StatMany (in more than one batch) answers
// for every path what Stat does, missing paths as Absent, in order.
func TestStatManyMatchesStat(t *testing.T) {
	e := newEnv(t, nil)
	ep, err := e.dial(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	ctx := context.Background()
	if err := os.MkdirAll(filepath.Join(e.root, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for i := range 5000 {
		p := fmt.Sprintf("d/f%s-%d", strings.Repeat("x", i%7), i)
		if i%3 == 0 {
			if err := os.WriteFile(filepath.Join(e.root, filepath.FromSlash(p)), []byte(p), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		paths = append(paths, p)
	}
	paths = append(paths, "d")
	got, err := ep.StatMany(ctx, paths)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(paths) {
		t.Fatalf("%d entries for %d paths", len(got), len(paths))
	}
	for i, p := range paths {
		want, err := ep.Stat(ctx, p)
		if err != nil {
			want = tree.Entry{Path: p}
		}
		if got[i] != want {
			t.Fatalf("StatMany[%d] = %+v, Stat = %+v", i, got[i], want)
		}
		if i > 50 && i < len(paths)-1 {
			break // Stat per path is a round trip each: the batch boundary is what matters below
		}
	}
	if got[4096].Path != paths[4096] || (got[4095].Kind == tree.File) != (4095%3 == 0) || got[len(got)-1].Kind != tree.Dir {
		t.Fatalf("entries across the batch boundary or the last are wrong: %+v %+v %+v", got[4095], got[4096], got[len(got)-1])
	}
	if _, err := ep.StatMany(ctx, []string{"../escape"}); err == nil {
		t.Fatal("StatMany of a path outside the folder was answered")
	}
}
