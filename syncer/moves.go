package syncer

import (
	"encoding/binary"
	"path"
	"slices"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// reusable is the one place that decides whether a side may make b out of
// content it already holds as a instead of receiving b's bytes: a rename
// of a removed file, or a local copy of a file it keeps. Both must be
// regular files of the same non-zero size and xxhash.
//
// xxhash is not collision resistant: a peer that can choose file content
// could make two different files look alike. The issue asks for a strong
// hash (128 bits or more of SHA-256 or BLAKE3) here; a later change adds
// it to tree.Entry, and this predicate is where it must be compared. The
// whole-file check at commit (CreateFile, CopyFile) still verifies the
// xxhash of what lands, so an accidental match never writes wrong bytes
// under a name the scan did not see with them.
func reusable(a, b tree.Entry) bool {
	return a.Kind == tree.File && b.Kind == tree.File &&
		a.Size > 0 && a.Size == b.Size && a.Hash != 0 && a.Hash == b.Hash
}

// detectMoves rewrites the plan so that a side reuses content it already
// holds: a removed directory whose whole subtree reappears under a new name
// becomes one directory rename, a removed file whose content a new file of
// the same side has becomes a file rename, and a new file whose content the
// side keeps under another path becomes a local copy. It is pure: it only
// rearranges ops. Renames and copies never count as deletions.
func detectMoves(p *Plan, local, remote []tree.Entry, mode Mode) {
	p.Local = movesOnSide(p.Local, local, remote, mode.LocalFolding, mode.LocalPathBound)
	p.Remote = movesOnSide(p.Remote, remote, local, mode.RemoteFolding, mode.RemotePathBound)
	p.LocalDeletes, p.RemoteDeletes = countRemoves(p.Local), countRemoves(p.Remote)
	p.LocalOverwrites, p.RemoteOverwrites = countOverwrites(p.Local), countOverwrites(p.Remote)
}

func countOverwrites(ops []Op) int {
	n := 0
	for _, op := range ops {
		if op.Kind == OpTransfer && op.Expect.Kind == tree.File || op.Kind == OpRename && op.Edit {
			n++
		}
	}
	return n
}

func countRemoves(ops []Op) int {
	n := 0
	for _, op := range ops {
		if op.Kind == OpRemove {
			n++
		}
	}
	return n
}

// isNew reports whether op brings a path into being on its side (nothing
// there before).
func isNew(op Op) bool {
	switch op.Kind {
	case OpTransfer, OpMkdir, OpSymlink:
		return !op.Expect.Exists()
	}
	return false
}

// movesOnSide applies detectMoves to one side's ops. mine is that side's
// scan, theirs the other side's (where new entries come from). A
// path-bound side gets file renames only (applied as transfers): no
// directory moves and no local copies.
func movesOnSide(ops []Op, mine, theirs []tree.Entry, f endpoint.Folding, bound bool) []Op {
	var removes, creates []int
	for i, op := range ops {
		switch {
		case op.Kind == OpRemove:
			removes = append(removes, i)
		case isNew(op):
			creates = append(creates, i)
		}
	}
	if len(creates) == 0 {
		return ops
	}
	drop := make([]bool, len(ops))
	var added []Op
	if len(removes) > 0 {
		if !bound {
			added = append(added, dirMoves(ops, removes, creates, mine, theirs, f, drop)...)
		}
		added = append(added, fileRenames(ops, removes, creates, f, drop)...)
		added = append(added, editedRenames(ops, removes, creates, f, drop)...)
	}
	if !bound {
		added = append(added, copies(ops, creates, mine, drop)...)
	}
	if len(added) == 0 {
		return ops
	}
	out := make([]Op, 0, len(ops)+len(added))
	for i, op := range ops {
		if !drop[i] {
			out = append(out, op)
		}
	}
	return append(out, added...)
}

// subtree returns the entries of list (sorted by tree.Compare) strictly
// below dir.
func subtree(list []tree.Entry, dir string) []tree.Entry {
	i, _ := slices.BinarySearchFunc(list, dir, func(e tree.Entry, p string) int { return tree.Compare(e.Path, p) })
	if i < len(list) && list[i].Path == dir {
		i++
	}
	j := i
	for j < len(list) && tree.IsBelow(list[j].Path, dir) {
		j++
	}
	return list[i:j]
}

// sameMoved reports whether b, found below a moved directory's new name,
// is exactly a, found below its old one: kind, content and synced
// metadata. Empty files carry no content to reuse, so they match by size.
func sameMoved(a, b tree.Entry) bool {
	if a.Kind != b.Kind || !sameMeta(a, b) {
		return false
	}
	switch a.Kind {
	case tree.File:
		return (a.Size == 0 && b.Size == 0) || reusable(a, b)
	case tree.Symlink:
		return a.Target == b.Target
	}
	return true
}

// dirMoves turns a removed directory and a new one with the same subtree
// into one rename. Nothing else may lie under either: everything this side
// holds below the old name is removed by the plan, and everything the other
// side holds below the new name is created by it.
func dirMoves(ops []Op, removes, creates []int, mine, theirs []tree.Entry, f endpoint.Folding, drop []bool) []Op {
	removedAt := map[string]int{}
	for _, i := range removes {
		removedAt[ops[i].Path] = i
	}
	createdAt := map[string]int{}
	for _, i := range creates {
		createdAt[ops[i].Path] = i
	}
	// Candidate old directories, by the shape of their subtree.
	type cand struct {
		op    int
		below []tree.Entry
	}
	bySig := map[string][]cand{}
	for _, i := range removes {
		op := ops[i]
		if op.Expect.Kind != tree.Dir {
			continue
		}
		below := subtree(mine, op.Path)
		if !every(below, func(e tree.Entry) bool { _, ok := removedAt[e.Path]; return ok && e.Problem == "" }) {
			continue
		}
		sig := shape(op.Path, below)
		bySig[sig] = append(bySig[sig], cand{i, below})
	}
	if len(bySig) == 0 {
		return nil
	}
	used := map[int]bool{} // removed directories taken (and what lies below them)
	var out []Op
	var movedTo string
	for _, i := range creates {
		op := ops[i]
		if op.Kind != OpMkdir || (movedTo != "" && tree.IsBelow(op.Path, movedTo)) {
			continue
		}
		below := subtree(theirs, op.Path)
		if !every(below, func(e tree.Entry) bool { _, ok := createdAt[e.Path]; return ok }) {
			continue
		}
		cs := bySig[shape(op.Path, below)]
		for _, c := range cs {
			from := ops[c.op].Expect
			if used[c.op] || takenBelow(used, ops, from.Path) || tree.IsBelow(f.Key(op.Path), f.Key(from.Path)) ||
				tree.IsBelow(f.Key(from.Path), f.Key(op.Path)) || respelled(f, from.Path, op.Path) ||
				f.Key(from.Path) == f.Key(op.Path) || !sameSubtree(from.Path, c.below, op.Path, below) {
				continue
			}
			used[c.op] = true
			drop[c.op], drop[i] = true, true
			for _, e := range c.below {
				drop[removedAt[e.Path]] = true
			}
			for _, e := range below {
				drop[createdAt[e.Path]] = true
			}
			out = append(out, Op{Kind: OpRename, Path: op.Path, Entry: op.Entry, Expect: from, Below: below})
			movedTo = op.Path
			break
		}
	}
	return out
}

// respelled reports whether, on a folding side, a directory above from and
// to or a directory above it are two spellings of one name (Docs/a to
// docs/sub/a). The directories above from stay until the rename out of
// them has run, and those above to are made before it: the side cannot
// hold both, so the rename would wait, pass after pass, behind a folder
// that cannot be made.
func respelled(f endpoint.Folding, from, to string) bool {
	if !f.Folds() {
		return false
	}
	above := map[string]string{}
	for q := tree.Parent(from); q != ""; q = tree.Parent(q) {
		above[f.Key(q)] = q
	}
	for q := to; q != ""; q = tree.Parent(q) {
		if p, ok := above[f.Key(q)]; ok && p != q {
			return true
		}
	}
	return false
}

// takenBelow reports whether a removed directory above or below p was
// already used by a directory move.
func takenBelow(used map[int]bool, ops []Op, p string) bool {
	for i := range used {
		q := ops[i].Expect.Path
		if q == p || tree.IsBelow(p, q) || tree.IsBelow(q, p) {
			return true
		}
	}
	return false
}

func every(es []tree.Entry, ok func(tree.Entry) bool) bool {
	for _, e := range es {
		if !ok(e) {
			return false
		}
	}
	return true
}

// shape is a key for a subtree's relative paths and kinds, which two
// subtrees must share to be one moved directory.
func shape(dir string, below []tree.Entry) string {
	var b []byte
	for _, e := range below {
		b = append(b, e.Path[len(dir)+1:]...)
		b = append(b, 0, byte(e.Kind))
		b = binary.AppendVarint(b, e.Size)
		b = binary.BigEndian.AppendUint64(b, e.Hash)
	}
	return string(b)
}

func sameSubtree(oldDir string, old []tree.Entry, newDir string, cur []tree.Entry) bool {
	if len(old) != len(cur) {
		return false
	}
	for k := range old {
		if old[k].Path[len(oldDir):] != cur[k].Path[len(newDir):] || !sameMoved(old[k], cur[k]) {
			return false
		}
	}
	return true
}

// fileRenames pairs each new file with a removed file of the same content,
// preferring one with the same base name, then the first in path order.
// Each removed file serves once.
func fileRenames(ops []Op, removes, creates []int, f endpoint.Folding, drop []bool) []Op {
	type key struct {
		size int64
		hash uint64
	}
	byKey := map[key][]int{}
	for _, i := range removes {
		if e := ops[i].Expect; !drop[i] && reusable(e, e) {
			k := key{e.Size, e.Hash}
			byKey[k] = append(byKey[k], i)
		}
	}
	if len(byKey) == 0 {
		return nil
	}
	for _, cs := range byKey {
		slices.SortFunc(cs, func(x, y int) int { return tree.Compare(ops[x].Expect.Path, ops[y].Expect.Path) })
	}
	var out []Op
	for _, i := range creates {
		op := ops[i]
		if drop[i] || op.Kind != OpTransfer {
			continue
		}
		cs := byKey[key{op.Entry.Size, op.Entry.Hash}]
		best := -1
		for n, c := range cs {
			from := ops[c].Expect
			// Neither may lie below the other: a file becoming the folder
			// that holds it (x to x/inner) needs the folder made where the
			// file still is, before any rename runs.
			if drop[c] || !reusable(from, op.Entry) || tree.IsBelow(f.Key(from.Path), f.Key(op.Path)) ||
				tree.IsBelow(f.Key(op.Path), f.Key(from.Path)) || f.Key(from.Path) == f.Key(op.Path) || respelled(f, from.Path, op.Path) {
				continue
			}
			if best < 0 || (tree.Base(from.Path) == tree.Base(op.Path) && tree.Base(ops[cs[best]].Expect.Path) != tree.Base(op.Path)) {
				best = n
			}
		}
		if best < 0 {
			continue
		}
		c := cs[best]
		drop[c], drop[i] = true, true
		out = append(out, Op{Kind: OpRename, Path: op.Path, Entry: op.Entry, Expect: ops[c].Expect})
	}
	return out
}

// editedRenames pairs a new file big enough for a block delta with a
// removed file it most likely was before being renamed or moved and
// edited, when no file of identical content was found: the only removed
// and the only new file of one base name, or else of one directory and
// extension. The pair becomes a rename (no content crosses) followed by a
// transfer that builds the new content from the renamed file. A wrong
// guess costs no more than the plan it replaces: the transfer finds few
// chunks to reuse and sends the rest, and every byte is verified.
func editedRenames(ops []Op, removes, creates []int, f endpoint.Folding, drop []bool) []Op {
	var rs, cs []int
	for _, i := range removes {
		if e := ops[i].Expect; !drop[i] && e.Kind == tree.File && e.Problem == "" && e.Size >= endpoint.DeltaMinBase {
			rs = append(rs, i)
		}
	}
	for _, i := range creates {
		if op := ops[i]; !drop[i] && op.Kind == OpTransfer && op.Entry.Size >= chunk.MinFileSize {
			cs = append(cs, i)
		}
	}
	if len(rs) == 0 || len(cs) == 0 {
		return nil
	}
	var out []Op
	pair := func(key func(string) string) {
		from, to := map[string][]int{}, map[string][]int{}
		for _, i := range rs {
			if !drop[i] {
				k := key(ops[i].Expect.Path)
				from[k] = append(from[k], i)
			}
		}
		for _, i := range cs {
			if !drop[i] {
				k := key(ops[i].Path)
				to[k] = append(to[k], i)
			}
		}
		for _, i := range cs {
			if drop[i] {
				continue
			}
			k := key(ops[i].Path)
			if len(from[k]) != 1 || len(to[k]) != 1 {
				continue
			}
			c, op := from[k][0], ops[i]
			old := ops[c].Expect
			if tree.IsBelow(f.Key(old.Path), f.Key(op.Path)) || tree.IsBelow(f.Key(op.Path), f.Key(old.Path)) ||
				f.Key(old.Path) == f.Key(op.Path) || respelled(f, old.Path, op.Path) {
				continue
			}
			drop[c], drop[i] = true, true
			out = append(out, Op{Kind: OpRename, Path: op.Path, Entry: op.Entry, Expect: old, Edit: true})
		}
	}
	pair(tree.Base)
	pair(func(p string) string { return tree.Parent(p) + "/*" + path.Ext(p) })
	return out
}

// copies makes each remaining new file whose content the side keeps, at a
// path this pass does not touch, a local copy of that file.
func copies(ops []Op, creates []int, mine []tree.Entry, drop []bool) []Op {
	type key struct {
		size int64
		hash uint64
	}
	if len(mine) == 0 {
		// Nothing to copy from (a first sync into an empty folder): no
		// maps over every path the plan creates.
		return nil
	}
	want := map[key]bool{}
	for _, i := range creates {
		if op := ops[i]; !drop[i] && op.Kind == OpTransfer && reusable(op.Entry, op.Entry) {
			want[key{op.Entry.Size, op.Entry.Hash}] = true
		}
	}
	if len(want) == 0 {
		return nil
	}
	// Every path the side's plan touches, by itself or through a directory
	// above it (a removal, a conflict copy or a rename moves what is below).
	touched := map[string]bool{}
	for _, op := range ops {
		touched[op.Path] = true
		if op.Kind == OpRemove || op.Kind == OpCopyAside || op.Kind == OpRename {
			touched[op.Expect.Path] = true
		}
	}
	isTouched := func(p string) bool {
		for q := p; q != ""; q = tree.Parent(q) {
			if touched[q] {
				return true
			}
		}
		return false
	}
	source := map[key]tree.Entry{}
	for _, e := range mine {
		k := key{e.Size, e.Hash}
		if e.Kind != tree.File || e.Problem != "" || !want[k] {
			continue
		}
		if _, ok := source[k]; ok || isTouched(e.Path) {
			continue
		}
		source[k] = e
	}
	var out []Op
	for _, i := range creates {
		op := ops[i]
		if drop[i] || op.Kind != OpTransfer {
			continue
		}
		from, ok := source[key{op.Entry.Size, op.Entry.Hash}]
		if !ok || !reusable(from, op.Entry) {
			continue
		}
		drop[i] = true
		out = append(out, Op{Kind: OpCopy, Path: op.Path, Entry: op.Entry, Expect: op.Expect, From: &from})
	}
	return out
}
