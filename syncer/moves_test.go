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

// tE is an empty file: nothing to reuse.
var tE = tree.Entry{Kind: tree.File, Size: 0, Mtime: 1000, Mode: 0o644, Hash: 5}

// TestReconcileMoves is the decision table for renames, directory moves and
// local copies (detectMoves). Every row would otherwise send content that
// the receiving side already holds.
func TestReconcileMoves(t *testing.T) {
	toLocal := []config.Direction{tw, r2l}
	toRemote := []config.Direction{tw, l2r}
	cases := []struct {
		name   string
		dirs   []config.Direction
		lf, rf endpoint.Folding
		anc    []tree.Entry
		loc    []tree.Entry
		rem    []tree.Entry
		want   []string
	}{
		{name: "rename flows to the remote", dirs: toRemote,
			anc:  ents("a", tF1),
			loc:  ents("b", tF1),
			rem:  ents("a", tF1),
			want: []string{"R rename b f1 from a f1"}},
		{name: "rename flows to the local side", dirs: toLocal,
			anc:  ents("a", tF1),
			loc:  ents("a", tF1),
			rem:  ents("b", tF1),
			want: []string{"L rename b f1 from a f1"}},
		{name: "rename with a new mtime carries it", dirs: toRemote,
			anc:  ents("a", tF1),
			loc:  ents("b", tF1late),
			rem:  ents("a", tF1),
			want: []string{"R rename b f1@2000 from a f1"}},
		{name: "rename into a new directory", dirs: toRemote,
			anc:  ents("a", tF1),
			loc:  ents("n", tD1, "n/a", tF1),
			rem:  ents("a", tF1),
			want: []string{"R mkdir n d", "R rename n/a f1 from a f1"}},
		{name: "renames on both sides, two-way", dirs: []config.Direction{tw},
			anc:  ents("a", tF1, "c", tF2),
			loc:  ents("b", tF1, "c", tF2),
			rem:  ents("a", tF1, "d", tF2),
			want: []string{"L rename d f2 from c f2", "R rename b f1 from a f1"}},
		{name: "two identical files renamed pair in path order", dirs: toRemote,
			anc:  ents("a", tF1, "b", tF1),
			loc:  ents("c", tF1, "d", tF1),
			rem:  ents("a", tF1, "b", tF1),
			want: []string{"R rename c f1 from a f1", "R rename d f1 from b f1"}},
		{name: "a moved file keeps its base name's partner", dirs: toRemote,
			anc:  ents("a", tD1, "a/x", tF1, "a/y", tF1),
			loc:  ents("a", tD1, "b", tD1, "b/y", tF1, "c", tF1),
			rem:  ents("a", tD1, "a/x", tF1, "a/y", tF1),
			want: []string{"R mkdir b d", "R rename b/y f1 from a/y f1", "R rename c f1 from a/x f1"}},
		{name: "renamed to other names on each side keeps both names, sending nothing", dirs: []config.Direction{tw},
			anc:  ents("a", tF1),
			loc:  ents("b", tF1),
			rem:  ents("c", tF1),
			want: []string{"L copy c f1 from b f1", "R copy b f1 from c f1", "A forget a"}},
		{name: "a big file moved and edited is renamed, then updated", dirs: toRemote,
			anc:  ents("a", tD1, "a/big.bin", tB1),
			loc:  ents("a", tD1, "b", tD1, "b/big.bin", tB2),
			rem:  ents("a", tD1, "a/big.bin", tB1),
			want: []string{"R mkdir b d", "R rename b/big.bin f12 from a/big.bin f11 edit"}},
		{name: "a big file renamed and edited in its folder is renamed, then updated", dirs: toLocal,
			anc:  ents("r.bin", tB1),
			loc:  ents("r.bin", tB1),
			rem:  ents("r-v2.bin", tB2),
			want: []string{"L rename r-v2.bin f12 from r.bin f11 edit"}},
		{name: "two candidates of one extension in a folder: no guess", dirs: toRemote,
			anc:  ents("x.bin", tB1, "y.bin", tB1),
			loc:  ents("z.bin", tB2),
			rem:  ents("x.bin", tB1, "y.bin", tB1),
			want: []string{"R remove y.bin f11", "R remove x.bin f11", "R transfer z.bin f12", "D 0/2"}},
		{name: "small files renamed and edited are sent", dirs: toRemote,
			anc:  ents("a", tF1),
			loc:  ents("b", tF2),
			rem:  ents("a", tF1),
			want: []string{"R remove a f1", "R transfer b f2", "D 0/1"}},
		{name: "rename on one side, edit on the other keeps both", dirs: []config.Direction{tw},
			anc:  ents("a", tF1),
			loc:  ents("b", tF1),
			rem:  ents("a", tF3),
			want: []string{"L transfer a f3", "R transfer b f1"}},
		{name: "rename on the receiver of a one-way job is undone by a local copy", dirs: []config.Direction{r2l},
			anc:  ents("a", tF1),
			loc:  ents("b", tF1),
			rem:  ents("a", tF1),
			want: []string{"L copy a f1 from b f1"}},
		{name: "empty files are sent, not renamed", dirs: toRemote,
			anc:  ents("a", tE),
			loc:  ents("b", tE),
			rem:  ents("a", tE),
			want: []string{"R remove a f5", "R transfer b f5", "D 0/1"}},
		{name: "a file that replaces the directory holding it is sent", dirs: toRemote,
			anc:  ents("a", tD1, "a/x", tF1),
			loc:  ents("a", tF1),
			rem:  ents("a", tD1, "a/x", tF1),
			want: []string{"R remove a/x f1", "R remove a d", "R transfer a f1", "D 0/2"}},
		{name: "case rename on a folding side is not a rename", dirs: toRemote, rf: caseOnly,
			anc:  ents("a.txt", tF1),
			loc:  ents("A.txt", tF1),
			rem:  ents("a.txt", tF1),
			want: []string{"R remove a.txt f1", "R transfer A.txt f1", "D 0/1"}},
		{name: "a file into a folder of its name in another case is not a rename on a folding side", dirs: toRemote, rf: caseOnly,
			anc:  ents("X", tF1),
			loc:  ents("x", tD1, "x/inner", tF1),
			rem:  ents("X", tF1),
			want: []string{"R remove X f1", "R mkdir x d", "R transfer x/inner f1", "D 0/1"}},
		{name: "a folder into a folder of its name in another case is not a move on a folding side", dirs: toRemote, rf: caseOnly,
			anc:  ents("Docs", tD1, "Docs/a", tF1),
			loc:  ents("docs", tD1, "docs/sub", tD1, "docs/sub/a", tF1),
			rem:  ents("Docs", tD1, "Docs/a", tF1),
			want: []string{"R remove Docs/a f1", "R remove Docs d", "R mkdir docs d", "R mkdir docs/sub d", "R transfer docs/sub/a f1", "D 0/2"}},
		{name: "rename onto a clashing name is withheld", dirs: toRemote, rf: caseOnly,
			anc:  ents("a.txt", tF1, "readme.txt", tF2),
			loc:  ents("README.txt", tF1, "readme.txt", tF2),
			rem:  ents("a.txt", tF1, "readme.txt", tF2),
			want: []string{"R remove a.txt f1", "C README.txt case clash file/absent [README.txt readme.txt]", "D 0/1"}},

		// Local copies.
		{name: "copy flows to the remote as a local copy", dirs: toRemote,
			anc:  ents("a", tF1),
			loc:  ents("a", tF1, "d", tD1, "d/b", tF1),
			rem:  ents("a", tF1),
			want: []string{"R mkdir d d", "R copy d/b f1 from a f1"}},
		{name: "copy flows to the local side as a local copy", dirs: toLocal,
			anc:  ents("a", tF1),
			loc:  ents("a", tF1),
			rem:  ents("a", tF1, "b", tF1late),
			want: []string{"L copy b f1@2000 from a f1"}},
		{name: "two copies of one file, one source", dirs: toRemote,
			anc:  ents("a", tF1),
			loc:  ents("a", tF1, "b", tF1, "c", tF1),
			rem:  ents("a", tF1),
			want: []string{"R copy b f1 from a f1", "R copy c f1 from a f1"}},
		{name: "no copy from a file the pass changes", dirs: toRemote,
			anc:  ents("a", tF1),
			loc:  ents("a", tF2, "b", tF1),
			rem:  ents("a", tF1),
			want: []string{"R transfer a f2 over f1", "R transfer b f1"}},
		{name: "no copy from an unreadable file", dirs: toRemote,
			anc:  ents("a", tF1),
			loc:  ents("a", tF1, "b", tF1),
			rem:  ents("a", problem(tF1)),
			want: []string{"R transfer b f1", "P a"}},
		{name: "a rename is preferred to a copy", dirs: toRemote,
			anc:  ents("a", tF1, "k", tF1),
			loc:  ents("b", tF1, "k", tF1),
			rem:  ents("a", tF1, "k", tF1),
			want: []string{"R rename b f1 from a f1"}},
		{name: "empty files are not copied", dirs: toRemote,
			anc:  ents("a", tE),
			loc:  ents("a", tE, "b", tE),
			rem:  ents("a", tE),
			want: []string{"R transfer b f5"}},

		// Directory moves.
		{name: "directory move is one rename", dirs: toRemote,
			anc:  ents("d", tD1, "d/a", tF1, "d/e", tD1, "d/e/b", tF2, "d/l", tS1, "d/z", tE),
			loc:  ents("n", tD1, "n/a", tF1, "n/e", tD1, "n/e/b", tF2, "n/l", tS1, "n/z", tE),
			rem:  ents("d", tD1, "d/a", tF1, "d/e", tD1, "d/e/b", tF2, "d/l", tS1, "d/z", tE),
			want: []string{"R rename n d from d d +5 below"}},
		{name: "directory move to the local side", dirs: toLocal,
			anc:  ents("d", tD1, "d/a", tF1, "d/b", tF2),
			loc:  ents("d", tD1, "d/a", tF1, "d/b", tF2),
			rem:  ents("x", tD1, "x/y", tD1, "x/y/d", tD1, "x/y/d/a", tF1, "x/y/d/b", tF2),
			want: []string{"L mkdir x d", "L mkdir x/y d", "L rename x/y/d d from d d +2 below"}},
		{name: "directory moved with a mode change keeps the move", dirs: toRemote,
			anc:  ents("d", tD1, "d/a", tF1),
			loc:  ents("n", at("", tree.Entry{Kind: tree.Dir, Mtime: 1000, Mode: 0o700}), "n/a", tF1),
			rem:  ents("d", tD1, "d/a", tF1),
			want: []string{"R rename n d+m700 from d d +1 below"}},
		{name: "partial directory move falls back to file renames", dirs: toRemote,
			anc:  ents("d", tD1, "d/a", tF1, "d/b", tF2),
			loc:  ents("n", tD1, "n/a", tF1, "n/b", tF3),
			rem:  ents("d", tD1, "d/a", tF1, "d/b", tF2),
			want: []string{"R remove d/b f2", "R remove d d", "R mkdir n d", "R transfer n/b f3", "R rename n/a f1 from d/a f1", "D 0/2"}},
		{name: "directory moved with a file added falls back to file renames", dirs: toRemote,
			anc:  ents("d", tD1, "d/a", tF1),
			loc:  ents("n", tD1, "n/a", tF1, "n/new", tF2),
			rem:  ents("d", tD1, "d/a", tF1),
			want: []string{"R remove d d", "R mkdir n d", "R transfer n/new f2", "R rename n/a f1 from d/a f1", "D 0/1"}},
		{name: "directory whose old name keeps an unreadable entry moves file by file", dirs: toRemote,
			anc:  ents("d", tD1, "d/a", tF1, "d/p", tF2),
			loc:  ents("n", tD1, "n/a", tF1),
			rem:  ents("d", tD1, "d/a", tF1, "d/p", problem(tF2)),
			want: []string{"R mkdir n d", "R rename n/a f1 from d/a f1", "P d/p"}},
		{name: "moved directory beside a renamed file", dirs: toRemote,
			anc:  ents("d", tD1, "d/a", tF1, "f", tF2),
			loc:  ents("g", tF2, "n", tD1, "n/a", tF1),
			rem:  ents("d", tD1, "d/a", tF1, "f", tF2),
			want: []string{"R rename n d from d d +1 below", "R rename g f2 from f f2"}},
	}
	for _, c := range cases {
		for _, dir := range c.dirs {
			t.Run(fmt.Sprintf("%s/%s", dir, c.name), func(t *testing.T) {
				mode := Mode{Direction: dir, Conflicts: config.Rename, LocalFolding: c.lf, RemoteFolding: c.rf}
				got := describePlan(Reconcile(c.anc, c.loc, c.rem, mode))
				if !slices.Equal(got, c.want) {
					t.Errorf("plan:\n  got  %s\n  want %s", strings.Join(got, "\n       "), strings.Join(c.want, "\n       "))
				}
			})
		}
	}
}
