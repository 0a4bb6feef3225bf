package syncer

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

var (
	tw  = config.TwoWay
	r2l = config.RemoteToLocal
	l2r = config.LocalToRemote
	all = []config.Direction{tw, r2l, l2r}
)

// TestReconcile is the decision table. Single-path cases are named
// "<local state>/<remote state>" over {absent, created, unchanged, modified,
// deleted, type-changed}; the ancestor is implied by the states (tF1 when a
// state needs one). A local edit is tF2, a remote edit tF3, a local type
// change tD1, a remote type change tS1.
// caseOnly is a filesystem that folds case but not normalisation.
var caseOnly = endpoint.Folding{Case: true}

func TestReconcile(t *testing.T) {
	x := func(e tree.Entry) []tree.Entry { return ents("x", e) }
	var none []tree.Entry
	cases := []struct {
		name   string
		dirs   []config.Direction
		manual bool
		// lf, rf: what the local and remote filesystems fold.
		lf, rf endpoint.Folding
		anc    []tree.Entry
		loc    []tree.Entry
		rem    []tree.Entry
		want   []string
	}{
		{name: "absent/absent", dirs: all},

		{name: "created/absent", dirs: []config.Direction{tw, l2r},
			loc: x(tF1), want: []string{"R transfer x f1"}},
		{name: "created/absent stays local", dirs: []config.Direction{r2l},
			loc: x(tF1)},
		{name: "absent/created", dirs: []config.Direction{tw, r2l},
			rem: x(tF1), want: []string{"L transfer x f1"}},
		{name: "absent/created stays remote", dirs: []config.Direction{l2r},
			rem: x(tF1)},
		{name: "created/created equal is recorded without transfer", dirs: all,
			loc: x(tF1), rem: x(tF1), want: []string{"A record x f1"}},
		{name: "created/created differ", dirs: []config.Direction{tw},
			loc: x(tF2), rem: x(tF3),
			want: []string{"L copy-aside x f2 mirror", "L transfer x f3", "C x both modified file/file"}},
		{name: "created/created differ", dirs: []config.Direction{r2l},
			loc: x(tF2), rem: x(tF3),
			want: []string{"L copy-aside x f2", "L transfer x f3", "C x both modified file/file"}},
		{name: "created/created differ", dirs: []config.Direction{l2r},
			loc: x(tF2), rem: x(tF3),
			want: []string{"R copy-aside x f3", "R transfer x f2", "C x both modified file/file"}},

		{name: "unchanged/unchanged", dirs: all, anc: x(tF1), loc: x(tF1), rem: x(tF1)},
		{name: "unchanged/modified", dirs: []config.Direction{tw, r2l},
			anc: x(tF1), loc: x(tF1), rem: x(tF3), want: []string{"L transfer x f3 over f1"}},
		{name: "unchanged/modified keeps the remote edit", dirs: []config.Direction{l2r},
			anc: x(tF1), loc: x(tF1), rem: x(tF3),
			want: []string{"R copy-aside x f3", "R transfer x f1", "C x modified on the receiving side of a one-way job file/file"}},
		{name: "unchanged/deleted", dirs: []config.Direction{tw, r2l},
			anc: x(tF1), loc: x(tF1), rem: none, want: []string{"L remove x f1", "D 1/0"}},
		{name: "unchanged/deleted is restored", dirs: []config.Direction{l2r},
			anc: x(tF1), loc: x(tF1), rem: none, want: []string{"R transfer x f1"}},
		{name: "unchanged/type-changed", dirs: []config.Direction{tw, r2l},
			anc: x(tF1), loc: x(tF1), rem: x(tS1), want: []string{"L remove x f1", "L symlink x s:t1", "D 1/0"}},
		{name: "unchanged/type-changed keeps the remote link", dirs: []config.Direction{l2r},
			anc: x(tF1), loc: x(tF1), rem: x(tS1),
			want: []string{"R copy-aside x s:t1", "R transfer x f1", "C x type clash file/symlink"}},

		{name: "modified/unchanged", dirs: []config.Direction{tw, l2r},
			anc: x(tF1), loc: x(tF2), rem: x(tF1), want: []string{"R transfer x f2 over f1"}},
		{name: "modified/unchanged keeps the local edit", dirs: []config.Direction{r2l},
			anc: x(tF1), loc: x(tF2), rem: x(tF1),
			want: []string{"L copy-aside x f2", "L transfer x f1", "C x modified on the receiving side of a one-way job file/file"}},
		{name: "modified/modified", dirs: []config.Direction{tw},
			anc: x(tF1), loc: x(tF2), rem: x(tF3),
			want: []string{"L copy-aside x f2 mirror", "L transfer x f3", "C x both modified file/file"}},
		{name: "modified/modified", dirs: []config.Direction{r2l},
			anc: x(tF1), loc: x(tF2), rem: x(tF3),
			want: []string{"L copy-aside x f2", "L transfer x f3", "C x both modified file/file"}},
		{name: "modified/modified", dirs: []config.Direction{l2r},
			anc: x(tF1), loc: x(tF2), rem: x(tF3),
			want: []string{"R copy-aside x f3", "R transfer x f2", "C x both modified file/file"}},
		{name: "modified/modified manual touches nothing", dirs: all, manual: true,
			anc: x(tF1), loc: x(tF2), rem: x(tF3), want: []string{"C x both modified file/file"}},
		{name: "modified/deleted restores the edit", dirs: []config.Direction{tw, l2r},
			anc: x(tF1), loc: x(tF2), rem: none, want: []string{"R transfer x f2"}},
		{name: "modified/deleted keeps the local edit", dirs: []config.Direction{r2l},
			anc: x(tF1), loc: x(tF2), rem: none,
			want: []string{"A forget x", "C x deleted on one side, modified on the other file/absent"}},
		{name: "modified/type-changed", dirs: []config.Direction{tw},
			anc: x(tF1), loc: x(tF2), rem: x(tS1),
			want: []string{"L copy-aside x f2 mirror", "L symlink x s:t1", "C x type clash file/symlink"}},
		{name: "modified/type-changed", dirs: []config.Direction{r2l},
			anc: x(tF1), loc: x(tF2), rem: x(tS1),
			want: []string{"L copy-aside x f2", "L symlink x s:t1", "C x type clash file/symlink"}},
		{name: "modified/type-changed", dirs: []config.Direction{l2r},
			anc: x(tF1), loc: x(tF2), rem: x(tS1),
			want: []string{"R copy-aside x s:t1", "R transfer x f2", "C x type clash file/symlink"}},

		{name: "deleted/unchanged", dirs: []config.Direction{tw, l2r},
			anc: x(tF1), loc: none, rem: x(tF1), want: []string{"R remove x f1", "D 0/1"}},
		{name: "deleted/unchanged is restored", dirs: []config.Direction{r2l},
			anc: x(tF1), loc: none, rem: x(tF1), want: []string{"L transfer x f1"}},
		{name: "deleted/modified restores the edit", dirs: []config.Direction{tw, r2l},
			anc: x(tF1), loc: none, rem: x(tF3), want: []string{"L transfer x f3"}},
		{name: "deleted/modified keeps the remote edit", dirs: []config.Direction{l2r},
			anc: x(tF1), loc: none, rem: x(tF3),
			want: []string{"A forget x", "C x deleted on one side, modified on the other absent/file"}},
		{name: "deleted/deleted", dirs: all, anc: x(tF1), want: []string{"A forget x"}},
		{name: "deleted/type-changed", dirs: []config.Direction{tw, r2l},
			anc: x(tF1), loc: none, rem: x(tS1), want: []string{"L symlink x s:t1"}},
		{name: "deleted/type-changed keeps the remote link", dirs: []config.Direction{l2r},
			anc: x(tF1), loc: none, rem: x(tS1),
			want: []string{"A forget x", "C x deleted on one side, modified on the other absent/symlink"}},

		{name: "type-changed/unchanged", dirs: []config.Direction{tw, l2r},
			anc: x(tF1), loc: x(tD1), rem: x(tF1), want: []string{"R remove x f1", "R mkdir x d", "D 0/1"}},
		{name: "type-changed/unchanged keeps the local dir", dirs: []config.Direction{r2l},
			anc: x(tF1), loc: x(tD1), rem: x(tF1),
			want: []string{"L copy-aside x d", "L transfer x f1", "C x type clash dir/file"}},
		{name: "type-changed/modified", dirs: []config.Direction{tw, r2l},
			anc: x(tF1), loc: x(tD1), rem: x(tF3),
			want: []string{"L copy-aside x d", "L transfer x f3", "C x type clash dir/file"}},
		{name: "type-changed/modified", dirs: []config.Direction{l2r},
			anc: x(tF1), loc: x(tD1), rem: x(tF3),
			want: []string{"R copy-aside x f3", "R mkdir x d", "C x type clash dir/file"}},
		{name: "type-changed/deleted", dirs: []config.Direction{tw, l2r},
			anc: x(tF1), loc: x(tD1), rem: none, want: []string{"R mkdir x d"}},
		{name: "type-changed/deleted keeps the local dir", dirs: []config.Direction{r2l},
			anc: x(tF1), loc: x(tD1), rem: none, want: []string{"A forget x"}},
		{name: "type-changed/type-changed same", dirs: all,
			anc: x(tF1), loc: x(tD1), rem: x(tD1), want: []string{"A record x d"}},
		{name: "type-changed/type-changed differ", dirs: []config.Direction{tw, r2l},
			anc: x(tF1), loc: x(tD1), rem: x(tS1),
			want: []string{"L copy-aside x d", "L symlink x s:t1", "C x type clash dir/symlink"}},
		{name: "type-changed/type-changed differ", dirs: []config.Direction{l2r},
			anc: x(tF1), loc: x(tD1), rem: x(tS1),
			want: []string{"R copy-aside x s:t1", "R mkdir x d", "C x type clash dir/symlink"}},

		{name: "symlink retargeted", dirs: []config.Direction{tw, r2l},
			anc: x(tS1), loc: x(tS1), rem: x(tS2), want: []string{"L symlink x s:t2 over s:t1"}},
		{name: "symlink out of the root is synced as a link", dirs: []config.Direction{tw, l2r},
			loc: x(tSout), want: []string{"R symlink x s:../../etc/passwd"}},

		{name: "mode changed locally", dirs: []config.Direction{tw, l2r},
			anc: x(tF1), loc: x(tF1x), rem: x(tF1), want: []string{"R setmeta x f1+m755 over f1"}},
		{name: "mode changed locally follows the remote", dirs: []config.Direction{r2l},
			anc: x(tF1), loc: x(tF1x), rem: x(tF1), want: []string{"L setmeta x f1 over f1+m755"}},
		{name: "first pass equal content, newer mtime wins", dirs: []config.Direction{tw},
			loc: x(tF1late), rem: x(tF1), want: []string{"R setmeta x f1@2000 over f1"}},
		{name: "first pass equal content, sender's mtime", dirs: []config.Direction{r2l},
			loc: x(tF1late), rem: x(tF1), want: []string{"L setmeta x f1 over f1@2000"}},

		// Directories.
		{name: "new tree parents first", dirs: []config.Direction{tw, r2l},
			rem:  ents("d", tD1, "d/e", tD1, "d/e/f", tF1),
			want: []string{"L mkdir d d", "L mkdir d/e d", "L transfer d/e/f f1"}},
		{name: "deleted tree children first", dirs: []config.Direction{tw, r2l},
			anc:  ents("d", tD1, "d/a", tF1, "d/e", tD1, "d/e/f", tF1),
			loc:  ents("d", tD1, "d/a", tF1, "d/e", tD1, "d/e/f", tF1),
			want: []string{"L remove d/e/f f1", "L remove d/e d", "L remove d/a f1", "L remove d d", "D 4/0"}},
		{name: "deleted tree is restored", dirs: []config.Direction{l2r},
			anc:  ents("d", tD1, "d/a", tF1),
			loc:  ents("d", tD1, "d/a", tF1),
			want: []string{"R mkdir d d", "R transfer d/a f1"}},
		{name: "deleted on both sides is forgotten once", dirs: all,
			anc: ents("d", tD1, "d/a", tF1), want: []string{"A forget d"}},
		{name: "deleted dir keeps new and modified files", dirs: []config.Direction{tw},
			anc:  ents("d", tD1, "d/a", tF1, "d/b", tF1, "z", tF1),
			loc:  ents("z", tF1),
			rem:  ents("d", tD1, "d/a", tF1, "d/b", tF3, "d/c", tF1, "z", tF1),
			want: []string{"L mkdir d d", "L transfer d/b f3", "L copy d/c f1 from z f1", "R remove d/a f1", "D 0/1"}},
		{name: "deleted dir keeps local-only files", dirs: []config.Direction{r2l},
			anc:  ents("d", tD1, "d/a", tF1, "d/b", tF1),
			loc:  ents("d", tD1, "d/a", tF1, "d/b", tF2, "d/new", tF1),
			want: []string{"L remove d/a f1", "A forget d", "C d/b deleted on one side, modified on the other file/absent", "D 1/0"}},
		{name: "dir replaced by file", dirs: []config.Direction{tw, r2l},
			anc:  ents("d", tD1, "d/a", tF1),
			loc:  ents("d", tD1, "d/a", tF1),
			rem:  ents("d", tF3),
			want: []string{"L remove d/a f1", "L remove d d", "L transfer d f3", "D 2/0"}},
		{name: "dir replaced by file while edited below", dirs: []config.Direction{tw, r2l},
			anc:  ents("d", tD1, "d/a", tF1),
			loc:  ents("d", tD1, "d/a", tF2),
			rem:  ents("d", tF3),
			want: []string{"L copy-aside d d", "L transfer d f3", "A forget d/a", "C d type clash dir/file"}},
		{name: "file replaced by dir", dirs: []config.Direction{tw, r2l},
			anc:  ents("d", tF1),
			loc:  ents("d", tF1),
			rem:  ents("d", tD1, "d/a", tF3),
			want: []string{"L remove d f1", "L mkdir d d", "L transfer d/a f3", "D 1/0"}},
		{name: "manual conflict leaves the subtree alone", dirs: []config.Direction{tw}, manual: true,
			anc:  ents("d", tF1),
			loc:  ents("d", tD1, "d/a", tF2),
			rem:  ents("d", tF3),
			want: []string{"C d type clash dir/file"}},
		{name: "unreadable entry is reported and blocks its dir's removal", dirs: []config.Direction{tw, r2l},
			anc:  ents("d", tD1, "d/a", tF1, "d/p", tF1),
			loc:  ents("d", tD1, "d/a", tF1, "d/p", problem(tF1)),
			want: []string{"L remove d/a f1", "P d/p", "D 1/0"}},
		{name: "unreadable entry is never overwritten", dirs: all,
			anc:  ents("p", tF1),
			loc:  ents("p", problem(tF1)),
			rem:  ents("p", tF3),
			want: []string{"P p"}},
		{name: "case clash onto a name in sync", dirs: []config.Direction{tw, l2r}, rf: caseOnly,
			anc:  ents("a.txt", tF1),
			loc:  ents("A.txt", tF2, "a.txt", tF1),
			rem:  ents("a.txt", tF1),
			want: []string{"C A.txt case clash file/absent [A.txt a.txt]"}},
		{name: "case variants onto a case-sensitive side are plain names", dirs: []config.Direction{tw, l2r},
			anc:  ents("a.txt", tF1),
			loc:  ents("A.txt", tF2, "a.txt", tF1),
			rem:  ents("a.txt", tF1),
			want: []string{"R transfer A.txt f2"}},
		{name: "case rename", dirs: []config.Direction{tw}, rf: caseOnly,
			anc:  ents("a.txt", tF1),
			loc:  ents("A.txt", tF1),
			rem:  ents("a.txt", tF1),
			want: []string{"R remove a.txt f1", "R transfer A.txt f1", "D 0/1"}},
		{name: "case rename onto a folding receiver", dirs: []config.Direction{tw, r2l}, lf: caseOnly,
			anc:  ents("a.txt", tF1),
			loc:  ents("a.txt", tF1),
			rem:  ents("A.txt", tF1),
			want: []string{"L remove a.txt f1", "L transfer A.txt f1", "D 1/0"}},
		{name: "three case variants, none written", dirs: []config.Direction{tw, r2l}, lf: caseOnly,
			rem:  ents("README.txt", tF1, "Readme.txt", tF2, "readme.txt", tF3),
			want: []string{"C README.txt case clash absent/file [README.txt Readme.txt readme.txt]"}},
		{name: "three case variants onto a folder that folds nothing", dirs: []config.Direction{tw, r2l},
			rem:  ents("README.txt", tF1, "Readme.txt", tF2, "readme.txt", tF3),
			want: []string{"L transfer README.txt f1", "L transfer Readme.txt f2", "L transfer readme.txt f3"}},
		{name: "case variants stay where nothing is written", dirs: []config.Direction{l2r}, lf: caseOnly,
			rem: ents("README.txt", tF1, "readme.txt", tF3)},
		{name: "a new spelling beside a name held in sync", dirs: []config.Direction{tw, r2l}, lf: caseOnly,
			anc:  ents("readme.txt", tF1),
			loc:  ents("readme.txt", tF1),
			rem:  ents("README.txt", tF2, "readme.txt", tF1),
			want: []string{"C README.txt case clash absent/file [README.txt readme.txt]"}},
		{name: "NFC and NFD, none written", dirs: []config.Direction{tw, r2l}, lf: endpoint.Folding{Normalization: true},
			rem:  ents("cafe\u0301.txt", tF1, "caf\u00e9.txt", tF2),
			want: []string{"C cafe\u0301.txt normalisation clash absent/file [cafe\u0301.txt caf\u00e9.txt]"}},
		{name: "NFC and NFD onto a folder that only folds case", dirs: []config.Direction{tw, r2l}, lf: caseOnly,
			rem:  ents("cafe\u0301.txt", tF1, "caf\u00e9.txt", tF2),
			want: []string{"L transfer cafe\u0301.txt f1", "L transfer caf\u00e9.txt f2"}},
		{name: "case and normalisation together", dirs: []config.Direction{tw, r2l}, lf: endpoint.Folding{Case: true, Normalization: true},
			rem:  ents("CAFE\u0301.txt", tF1, "caf\u00e9.txt", tF2),
			want: []string{"C CAFE\u0301.txt case clash absent/file [CAFE\u0301.txt caf\u00e9.txt]"}},
		{name: "directory clash withholds both trees, one conflict", dirs: []config.Direction{tw, r2l}, lf: caseOnly,
			rem:  ents("Docs", tD1, "Docs/a", tF1, "docs", tD1, "docs/a", tF2, "x", tF3),
			want: []string{"L transfer x f3", "C Docs case clash absent/dir [Docs docs]"}},
		{name: "both sides fold, each created one spelling", dirs: []config.Direction{tw}, lf: caseOnly, rf: caseOnly,
			loc:  ents("x", tF2),
			rem:  ents("X", tF3),
			want: []string{"C X case clash absent/file [X x]"}},
		{name: "path order: dir before its children before siblings with dots", dirs: []config.Direction{tw, r2l},
			rem:  ents("a", tD1, "a/b", tF1, "a.txt", tF1),
			want: []string{"L mkdir a d", "L transfer a/b f1", "L transfer a.txt f1"}},
	}
	for _, c := range cases {
		for _, dir := range c.dirs {
			t.Run(fmt.Sprintf("%s/%s", dir, c.name), func(t *testing.T) {
				mode := Mode{Direction: dir, Conflicts: config.Rename, LocalFolding: c.lf, RemoteFolding: c.rf}
				if c.manual {
					mode.Conflicts = config.Manual
				}
				got := describePlan(Reconcile(c.anc, c.loc, c.rem, mode))
				if !slices.Equal(got, c.want) {
					t.Errorf("plan:\n  got  %s\n  want %s", strings.Join(got, "\n       "), strings.Join(c.want, "\n       "))
				}
			})
		}
	}
}

// TestReconcileDefaultsToRemoteToLocal pins the zero Mode to the documented
// default: the remote is primary and conflicts are renamed.
func TestReconcileDefaultsToRemoteToLocal(t *testing.T) {
	got := describePlan(Reconcile(ents("x", tF1), ents("x", tF2), ents("x", tF3), Mode{}))
	want := []string{"L copy-aside x f2", "L transfer x f3", "C x both modified file/file"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
