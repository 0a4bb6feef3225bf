package syncer_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/halt"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/tree"
)

// scopedPass runs a pass limited to within.
func (e *env) scopedPass(within []string, allowDeletes bool) (snapshot.PassRecord, error) {
	o := e.options()
	o.Within = within
	o.AllowDeletes = allowDeletes
	return syncer.Pass(context.Background(), o)
}

// agreedState is the ancestor as a comparable list: the directories'
// mtimes left out, as a scoped pass does not act on the directories above
// what changed, whose mtimes the changes moved.
func agreedState(t testing.TB, db *snapshot.DB) []string {
	t.Helper()
	all, err := db.Ancestor()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(all))
	for i, a := range all {
		if a.Kind == tree.Dir {
			a.Mtime = 0
		}
		out[i] = fmt.Sprintf("%+v", a)
	}
	return out
}

// mustTotals fails unless the snapshot's totals count its ancestor.
func mustTotals(t testing.TB, db *snapshot.DB) {
	t.Helper()
	all, err := db.Ancestor()
	if err != nil {
		t.Fatal(err)
	}
	want := snapshot.Totals{Entries: len(all)}
	for _, a := range all {
		if a.Kind == tree.File {
			want.Files++
		}
	}
	if got, ok, err := db.Totals(); !ok || err != nil || got != want {
		t.Fatalf("totals %+v (ok %v, err %v); the ancestor holds %+v", got, ok, err, want)
	}
}

// scopeBase is the tree the scoped scenarios start from, synced.
func scopeBase(e *env) {
	for _, p := range []string{"d/a.txt", "d/b.txt", "d/sub/x.txt", "d/sub/y.txt", "far/o.txt", "far/p/q.txt", "top.txt"} {
		e.write("local", p, "base "+p)
	}
	e.mustPass()
}

func (e *env) remove(side, p string) {
	e.t.Helper()
	if err := os.RemoveAll(filepath.Join(e.root(side), filepath.FromSlash(p))); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) move(side, from, to string) {
	e.t.Helper()
	if err := os.Rename(filepath.Join(e.root(side), filepath.FromSlash(from)), filepath.Join(e.root(side), filepath.FromSlash(to))); err != nil {
		e.t.Fatal(err)
	}
}

// TestScopedPassMatchesWholePass runs each change on two copies of one
// job, a pass scoped to the changed paths on one and a whole pass on the
// other: both sides and the ancestor must come out the same, and the
// scoped pass must have run scoped unless it had to run whole.
func TestScopedPassMatchesWholePass(t *testing.T) {
	cases := []struct {
		name      string
		change    func(e *env)
		within    []string
		escalates bool
	}{
		{"create", func(e *env) { e.write("local", "d/sub/new.txt", "new") }, []string{"d/sub/new.txt"}, false},
		{"edit on the remote", func(e *env) { e.write("remote", "d/a.txt", "remote edit") }, []string{"d/a.txt"}, false},
		{"delete", func(e *env) { e.remove("local", "d/b.txt") }, []string{"d/b.txt"}, false},
		{"rename", func(e *env) { e.move("local", "d/a.txt", "d/sub/moved.txt") }, []string{"d/a.txt", "d/sub/moved.txt"}, false},
		{"directory with children", func(e *env) {
			e.write("local", "d/new/1", "one")
			e.write("local", "d/new/deep/2", "two")
		}, []string{"d/new", "d/new/1", "d/new/deep", "d/new/deep/2"}, false},
		{"conflict", func(e *env) {
			e.write("local", "d/sub/x.txt", "local edit")
			e.write("remote", "d/sub/x.txt", "remote edit")
		}, []string{"d/sub/x.txt"}, false},
		{"directory deleted", func(e *env) { e.remove("remote", "d/sub") }, []string{"d/sub", "d/sub/x.txt", "d/sub/y.txt"}, false},
		{"nothing there", func(e *env) {}, []string{"nope/x", "d/none"}, false},
		{"context directory deleted", func(e *env) { e.remove("local", "far/p") }, []string{"far/p/q.txt"}, true},
		{"context directory made a file", func(e *env) {
			e.remove("remote", "far/p")
			e.write("remote", "far/p", "a file now")
		}, []string{"far/p/q.txt"}, true},
		{"top-level delete", func(e *env) { e.remove("local", "top.txt") }, []string{"top.txt"}, true},
		{"top-level directory emptied", func(e *env) { e.remove("local", "far") }, []string{"far"}, true},
		{"the root", func(e *env) { e.write("local", "d/c.txt", "c") }, []string{""}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			scoped, whole := newEnv(t), newEnv(t)
			var recs [2]snapshot.PassRecord
			for i, e := range []*env{scoped, whole} {
				scopeBase(e)
				c.change(e)
				var err error
				if i == 0 {
					recs[i], err = e.scopedPass(c.within, false)
				} else {
					recs[i], err = e.pass(context.Background(), false)
				}
				if err != nil {
					t.Fatalf("pass %d: %v", i, err)
				}
			}
			if got := recs[0].Scoped > 0; got == c.escalates {
				t.Errorf("scoped=%d, want it to run scoped: %v", recs[0].Scoped, !c.escalates)
			}
			if recs[1].Scoped != 0 {
				t.Errorf("the whole pass says scoped=%d", recs[1].Scoped)
			}
			for _, side := range []string{"local", "remote"} {
				if g, w := dump(t, scoped.root(side)), dump(t, whole.root(side)); !reflect.DeepEqual(g, w) {
					t.Errorf("%s side:\nscoped %q\nwhole  %q", side, g, w)
				}
			}
			if g, w := agreedState(t, scoped.db), agreedState(t, whole.db); !reflect.DeepEqual(g, w) {
				t.Errorf("ancestor:\nscoped %q\nwhole  %q", g, w)
			}
			s, w := recs[0], recs[1]
			if s.Created != w.Created || s.Deleted != w.Deleted || s.Renamed != w.Renamed || s.Conflicts != w.Conflicts || s.Bytes != w.Bytes {
				t.Errorf("scoped pass %s\nwhole pass  %s", summary(s), summary(w))
			}
			mustTotals(t, scoped.db)
			if rec := scoped.mustPass(); rec.Created+rec.Updated+rec.Deleted+rec.Conflicts != 0 {
				t.Errorf("a whole pass after the scoped one did something: %s", summary(rec))
			}
		})
	}
}

// TestScopedPassLeavesTheRestAlone: a change outside the scope is neither
// synced nor forgotten by a scoped pass (its ancestor record stays as it
// was, so the next whole pass still sees it as a change, not a conflict),
// and the scan cache keeps the hashes of the files the scoped scans did not
// list.
func TestScopedPassLeavesTheRestAlone(t *testing.T) {
	e := newEnv(t)
	scopeBase(e)
	before := agreedState(t, e.db)
	e.write("local", "far/o.txt", "edited, not in scope")
	e.write("local", "d/a.txt", "edited, in scope")
	rec, err := e.scopedPass([]string{"d/a.txt"}, false)
	if err != nil || rec.Scoped != 1 || rec.Updated != 1 {
		t.Fatalf("scoped pass: %v, %s scoped=%d", err, summary(rec), rec.Scoped)
	}
	if got, _ := e.read("remote", "far/o.txt"); got != "base far/o.txt" {
		t.Fatalf("the remote's far/o.txt is %q: the scoped pass acted outside its scope", got)
	}
	after := agreedState(t, e.db)
	if len(after) != len(before) {
		t.Fatalf("the ancestor went from %d to %d entries", len(before), len(after))
	}
	for i := range before {
		if strings.Contains(before[i], "Path:d/a.txt ") {
			continue
		}
		if before[i] != after[i] {
			t.Fatalf("outside the scope the ancestor changed:\nbefore %s\nafter  %s", before[i], after[i])
		}
	}
	mustTotals(t, e.db)
	rec = e.mustPass()
	if rec.Updated != 1 || rec.Conflicts != 0 {
		t.Fatalf("the whole pass after it: %s, want the one update outside the scope", summary(rec))
	}
	if got, _ := e.read("remote", "far/o.txt"); got != "edited, not in scope" {
		t.Fatalf("remote far/o.txt is %q after the whole pass", got)
	}
}

// TestScopedPassHaltsOnTooManyDeletes: max_delete weighs a scoped pass's
// deletions against the whole tree's size (the snapshot's totals), not
// the scope's, and halts it as it would a whole pass; the halt is the
// scoped pass's own.
func TestScopedPassHaltsOnTooManyDeletes(t *testing.T) {
	e := newEnv(t)
	e.job.MaxDelete = config.Limit{IsPercent: true, Percent: 10}
	var within []string
	for i := range 30 {
		e.write("local", fmt.Sprintf("bulk/f%02d", i), "x")
	}
	e.mustPass() // 31 entries: 10% allows 3
	for i := range 4 {
		p := fmt.Sprintf("bulk/f%02d", i)
		e.remove("local", p)
		within = append(within, p)
	}
	rec, err := e.scopedPass(within, false)
	var h *syncer.HaltError
	if !errors.As(err, &h) || h.Kind != halt.TooManyDeletes || h.Count != 4 || h.Limit != 3 {
		t.Fatalf("scoped pass deleting 4 of 31 with max_delete 10%%: %v (%+v), want a too-many-deletes halt at 3", err, h)
	}
	if rec.Scoped != 4 {
		t.Fatalf("the halted pass says scoped=%d, want 4", rec.Scoped)
	}
	if _, ok := e.read("remote", "bulk/f00"); !ok {
		t.Fatal("the halted pass deleted bulk/f00")
	}
	// Three are within the limit.
	e.write("local", "bulk/f00", "back")
	rec, err = e.scopedPass(within[1:], false)
	if err != nil || rec.Deleted != 3 || rec.Scoped != 3 {
		t.Fatalf("scoped pass deleting 3: %v, %s scoped=%d", err, summary(rec), rec.Scoped)
	}
	mustTotals(t, e.db)
}

// TestScopedPassHaltsOnTooManyChanges: max_change's share is of the
// whole tree's files.
func TestScopedPassHaltsOnTooManyChanges(t *testing.T) {
	e := newEnv(t)
	e.job.MaxChange = config.Limit{IsPercent: true, Percent: 10}
	for i := range 20 {
		e.write("local", fmt.Sprintf("bulk/f%02d", i), "x")
	}
	e.mustPass() // 20 files: 10% allows 2
	within := []string{"bulk/f00", "bulk/f01", "bulk/f02"}
	for _, p := range within {
		e.write("remote", p, "changed "+p)
	}
	_, err := e.scopedPass(within, false)
	var h *syncer.HaltError
	if !errors.As(err, &h) || h.Kind != halt.TooManyChanges || h.Count != 3 || h.Limit != 2 {
		t.Fatalf("scoped pass overwriting 3 of 20 files with max_change 10%%: %v (%+v), want a too-many-changes halt at 2", err, h)
	}
}

// TestScopedPassRunsWholeWithoutTotals: a snapshot from before the totals
// were kept (or any that lacks them) makes the scoped pass run whole,
// which stores them; the next one runs scoped.
func TestScopedPassRunsWholeWithoutTotals(t *testing.T) {
	e := newEnv(t)
	e.write("local", "d/a", "a")
	rec, err := e.scopedPass([]string{"d/a"}, false)
	if err != nil || rec.Scoped != 0 || rec.Created != 2 {
		t.Fatalf("first pass, scoped: %v, %s scoped=%d; want it whole", err, summary(rec), rec.Scoped)
	}
	e.write("local", "d/b", "b")
	if rec, err = e.scopedPass([]string{"d/b"}, false); err != nil || rec.Scoped != 1 || rec.Created != 1 {
		t.Fatalf("second pass: %v, %s scoped=%d; want it scoped", err, summary(rec), rec.Scoped)
	}
}

// TestRandomScopedPass compares, on random trees and random changes, a
// pass scoped to the changed paths with a whole pass on a copy of the job:
// same sides, same ancestor. FERRY_SEED replays a run.
func TestRandomScopedPass(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FERRY_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d (FERRY_SEED=%d to replay)", seed, seed)
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	names := []string{"t/a", "t/b", "t/c/d", "t/c/e", "t/c/f/g", "t/h/i", "t/h/j.txt", "u/k", "u/l/m", "t/c/f/n"}
	scopedRuns := 0
	for round := range rounds {
		rng := rand.New(rand.NewPCG(seed, uint64(round)))
		var base []string
		for _, n := range names {
			if rng.IntN(3) > 0 {
				base = append(base, n)
			}
		}
		type change struct {
			side, path, op string
			n              int
		}
		var changes []change
		var within []string
		for _, side := range []string{"local", "remote"} {
			for _, n := range names {
				switch rng.IntN(8) {
				case 0:
					changes = append(changes, change{side, n, "write", rng.IntN(1000)})
					within = append(within, n)
				case 1:
					changes = append(changes, change{side, n, "remove", 0})
					within = append(within, n)
				case 2:
					if d := tree.Parent(n); strings.Contains(d, "/") {
						changes = append(changes, change{side, d, "remove", 0})
						within = append(within, d)
					}
				}
			}
		}
		if len(within) == 0 {
			continue
		}
		var recs [2]snapshot.PassRecord
		var envs [2]*env
		for i := range envs {
			e := newEnv(t)
			envs[i] = e
			for _, n := range base {
				e.write("local", n, "base "+n)
			}
			e.mustPass()
			for _, c := range changes {
				switch c.op {
				case "write":
					writeIfPossible(e, c.side, c.path, fmt.Sprintf("%s %d", c.side, c.n))
				case "remove":
					e.remove(c.side, c.path)
				}
			}
			var err error
			if i == 0 {
				recs[i], err = e.scopedPass(within, true)
			} else {
				recs[i], err = e.pass(context.Background(), true)
			}
			if err != nil {
				t.Fatalf("round %d: pass %d: %v", round, i, err)
			}
		}
		if recs[0].Scoped > 0 {
			scopedRuns++
		}
		for _, side := range []string{"local", "remote"} {
			if g, w := dump(t, envs[0].root(side)), dump(t, envs[1].root(side)); !reflect.DeepEqual(g, w) {
				t.Fatalf("round %d (scoped=%d, within %q): %s side:\nscoped %q\nwhole  %q", round, recs[0].Scoped, within, side, g, w)
			}
		}
		if g, w := agreedState(t, envs[0].db), agreedState(t, envs[1].db); !reflect.DeepEqual(g, w) {
			t.Fatalf("round %d (scoped=%d, within %q): ancestor:\nscoped %q\nwhole  %q", round, recs[0].Scoped, within, g, w)
		}
		mustTotals(t, envs[0].db)
	}
	t.Logf("%d of %d rounds ran scoped", scopedRuns, rounds)
}
