package syncer_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/snapshot"
)

// TestFileInTheWayIsAProblemNotASkip: a path whose NAME.partial is a
// user's own file was counted as skipped ("changed during the pass"),
// which the next pass was said to fix and never did. It is now a problem
// path with the reason and the fix, counted in InTheWay, not in Skipped,
// and left out of the ancestor so that a later pass still writes it.
func TestFileInTheWayIsAProblemNotASkip(t *testing.T) {
	e := newEnv(t)
	// Above 64 KiB: smaller files are received whole under a temporary
	// name, and NAME.partial is not in their way.
	big := strings.Repeat("for the remote\n", 5000)
	e.write("local", "b.txt", big)
	e.write("local", "a.txt", big)
	e.write("remote", "a.txt.partial", "the user's own")
	e.write("remote", "b.txt.partial", "the user's own")
	e.write("local", "ok.txt", "nothing in the way")
	e.write("remote", "c.txt", strings.Repeat("for the local side\n", 4000))
	e.write("local", "c.txt.partial", "the user's own")
	rec := e.mustPass()
	if rec.Skipped != 0 || rec.InTheWay != 3 || rec.Problems != 3 || rec.Created != 1 {
		t.Fatalf("pass: %s, in the way %d; want 1 created, 3 problems in the way, none skipped", summary(rec), rec.InTheWay)
	}
	want := []snapshot.ProblemPath{
		{Side: "remote", Path: "a.txt", Problem: `a file "a.txt.partial" that ferry did not create is in the way (ferry writes there first, then renames it into place); move or delete it`},
		{Side: "remote", Path: "b.txt", Problem: `a file "b.txt.partial" that ferry did not create is in the way (ferry writes there first, then renames it into place); move or delete it`},
		{Side: "local", Path: "c.txt", Problem: `a file "c.txt.partial" that ferry did not create is in the way (ferry writes there first, then renames it into place); move or delete it`},
	}
	if !slices.Equal(rec.ProblemPaths, want) {
		t.Fatalf("problem paths:\n%q\nwant\n%q", rec.ProblemPaths, want)
	}
	if got, _ := e.read("remote", "a.txt.partial"); got != "the user's own" {
		t.Fatalf("the user's a.txt.partial = %q", got)
	}

	if err := os.Remove(filepath.Join(e.remoteDir, "a.txt.partial")); err != nil {
		t.Fatal(err)
	}
	rec = e.mustPass()
	if rec.Created != 1 || rec.InTheWay != 2 {
		t.Fatalf("pass once a.txt.partial is gone: %s, in the way %d; want a.txt created, 2 still in the way", summary(rec), rec.InTheWay)
	}
	if got, _ := e.read("remote", "a.txt"); got != big {
		t.Fatalf("remote a.txt is not the local one (%d bytes)", len(got))
	}
}
