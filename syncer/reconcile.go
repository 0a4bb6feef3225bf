package syncer

import (
	"slices"
	"sort"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/conflict"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// MirrorModified is the conflict reason for an edit made on the receiving
// side of a one-way job to a path the sending side did not change: the
// sending side's version is restored and the edit is kept as a conflict copy
// (or, with conflicts: manual, left alone).
const MirrorModified conflict.Reason = "modified on the receiving side of a one-way job"

// Mode is what Reconcile needs from a job and its folders: which way changes
// flow, what happens to the losing side of a conflict, and which spellings
// each side's filesystem takes for one name. Zero fields take the defaults
// (remote-to-local, rename, no folding).
type Mode struct {
	Direction config.Direction
	Conflicts config.ConflictPolicy
	// LocalFolding and RemoteFolding are what Endpoint.Folding reported.
	LocalFolding, RemoteFolding endpoint.Folding
	// LocalPathBound and RemotePathBound say that side's files are bound
	// to their paths (endpoint.Caps.PathBound): nothing is renamed or copied
	// there; a file rename is applied as a transfer of the new path and a
	// removal of the old one after it.
	LocalPathBound, RemotePathBound bool
}

// ModeOf returns the reconcile mode of a job.
func ModeOf(job config.Job) Mode {
	return Mode{Direction: job.Direction, Conflicts: job.Conflicts}
}

// OpKind is what an Op does to one side.
type OpKind uint8

const (
	// OpCopyAside renames Path to a conflict copy name on this side
	// (conflict.FreeName, chosen when applied, free on both sides and not
	// created by the same pass), so that Path is free for the other side's
	// version. Expect is the entry renamed.
	OpCopyAside OpKind = iota + 1
	// OpRemove deletes Path (Expect). Directories are removed after
	// everything below them.
	OpRemove
	// OpMkdir creates the directory Entry.
	OpMkdir
	// OpSymlink creates the link Entry, replacing Expect.
	OpSymlink
	// OpTransfer copies the file Entry from the other side over Expect.
	OpTransfer
	// OpSetMeta gives Path the mode and mtime of Entry; content is equal.
	OpSetMeta
	// OpRename moves this side's Expect (at Expect.Path, which the pass
	// would otherwise remove) to Path, where the other side created Entry
	// with the same content: nothing crosses the link. For a directory,
	// Below lists the other side's entries under Path, all of which the
	// move brings along. Then mode and mtime are set if they differ.
	OpRename
	// OpCopy makes the new file Entry at Path (over Expect, Kind Absent)
	// by copying From, a file with the same content that this side keeps
	// and the pass does not touch: nothing crosses the link.
	OpCopy
)

func (k OpKind) String() string {
	switch k {
	case OpCopyAside:
		return "copy-aside"
	case OpRemove:
		return "remove"
	case OpMkdir:
		return "mkdir"
	case OpSymlink:
		return "symlink"
	case OpTransfer:
		return "transfer"
	case OpSetMeta:
		return "setmeta"
	case OpRename:
		return "rename"
	case OpCopy:
		return "copy"
	}
	return "unknown"
}

// Op is one change to one side. When it succeeds, the ancestor learns
// Entry for Path (OpRemove: Path is forgotten; OpCopyAside: nothing, the
// op that follows it records the path).
type Op struct {
	Kind OpKind
	// Mirror (OpCopyAside in two-way jobs) asks the applier to send the
	// conflict copy to the other side in the same pass, since in two-way
	// a conflict copy is an ordinary new file.
	Mirror bool
	// Edit marks a file OpRename whose file was also edited: Entry is the
	// new content, which a transfer brings after the rename, building it
	// from the renamed file (Expect, now at Path) by block delta.
	Edit bool
	Path string
	// Entry is the state Path takes: the other side's scanned entry for
	// transfers, directories and links, the winning metadata for SetMeta.
	Entry tree.Entry
	// Expect is this side's scanned entry at Path (Kind Absent when there
	// is none). Endpoints re-check it before they overwrite, delete or
	// rename anything.
	Expect tree.Entry
	// From is the source of an OpCopy, as this side's scan saw it; nil
	// for every other kind. A pointer, as a plan holds an op per path and
	// few are copies.
	From *tree.Entry
	// Below is what a directory OpRename brings to Path: the other side's
	// entries below it, recorded in the ancestor when the move succeeds
	// (those the side then holds as scanned).
	Below []tree.Entry
}

// Plan is what one pass should do. Each side's ops are in execution order:
// conflict copies first, then removals (children before their directory),
// then creations and updates (parents before children), then renames and
// local copies (which run after the directories they land in are made,
// and before the directories they leave are removed).
type Plan struct {
	Local, Remote []Op
	// Ancestor holds agreed states to store without moving anything (both
	// sides already hold the same content, or both deleted it: Kind Absent
	// means forget the path and everything below it). Apply them before the
	// ops; the ops re-record what they touch.
	Ancestor []tree.Entry
	// Conflicts found. Time and Copy are filled in when applied.
	Conflicts []conflict.Record
	// Problems are entries a scan could not read; nothing at or below them
	// is touched.
	Problems []ProblemEntry
	// LocalDeletes and RemoteDeletes count OpRemove per side (max_delete).
	// A rename is not a deletion.
	LocalDeletes, RemoteDeletes int
	// LocalOverwrites and RemoteOverwrites count the files a side's ops
	// write over with other content (max_change): transfers onto an
	// existing file and renames that also edit. A conflict's loser is
	// renamed aside first, so it is not overwritten.
	LocalOverwrites, RemoteOverwrites int
	// Mode is the mode the plan was made for. The applier reads from it
	// which sides are path-bound.
	Mode Mode
}

// ProblemEntry is an entry a scan could not read (Problem says why) and
// the side (SideLocal or SideRemote) it was seen on.
type ProblemEntry struct {
	Side string
	tree.Entry
}

// Empty reports whether the plan changes nothing at all.
func (p *Plan) Empty() bool {
	return len(p.Local) == 0 && len(p.Remote) == 0 && len(p.Ancestor) == 0 && len(p.Conflicts) == 0
}

// Reconcile decides, without any I/O, what a pass does given the entries
// both sides last agreed on (ancestor) and what each side holds now. All
// three lists must be sorted by tree.Compare.
//
// The rules, per path, where "changed" compares content with the ancestor
// and a directory counts as changed when anything below it was created or
// modified (or could not be read):
//
//   - Equal content on both sides is recorded in the ancestor, with no
//     transfer. If only metadata differs, it is copied from the side that
//     changed it (two-way: the newer mtime when both did; one-way: the
//     sending side).
//   - Two-way: a change on one side flows to the other. A deletion against a
//     modification keeps the modification and restores it on the deleting
//     side (only the new or modified files of a deleted directory, and the
//     directories on their path, come back; unchanged ones stay deleted).
//     Both sides created or modified a path differently: conflict. With
//     conflicts: rename the local version is renamed to a conflict copy
//     (which then syncs to the remote like any new file) and the remote
//     version takes the name; with conflicts: manual nothing at or below the
//     path is touched.
//   - One-way (remote-to-local sends remote to local, local-to-remote the
//     reverse): the sending side's creations, modifications and deletions
//     flow to the receiving side. A path only the receiving side ever had
//     stays there, never sent and never deleted. A deletion on the receiving
//     side is restored. Before the sending side's version is written over a
//     receiving-side edit, that edit is renamed to a conflict copy ON THE
//     RECEIVING SIDE: local-to-remote never writes the local side, so the
//     remote's edit is kept as NAME.conflict-mine.EXT on the remote. With
//     conflicts: manual nothing is touched. A sending-side deletion of a
//     receiving-side edit keeps the edit and reports a conflict; the path is
//     then forgotten, so it is receiving-side-only from then on.
//   - With no ancestor (first pass, reset-sync) nothing is deleted: unequal
//     content is a conflict resolved as above.
//   - A path that either side could not read (Problem set) is reported and
//     nothing at or below it is touched; the directories above it are not
//     removed.
//   - Case and normalisation clashes: when, after the pass, a side whose
//     filesystem folds case or Unicode normalisation (Mode's Folding) would
//     hold two names it takes for one (readme.txt and README.txt, or the NFC
//     and NFD spellings of café.txt), none of the colliding names is touched
//     on either side, and one conflict lists them all. A change of case that
//     removes the old spelling first is no clash.
//   - Renames, moves and copies (see detectMoves): a side that would remove
//     a file and receive one with the same content renames it instead; a
//     whole moved directory is one rename; a side that would receive content
//     it keeps under another, untouched path copies it locally.
func Reconcile(ancestor, local, remote []tree.Entry, mode Mode) Plan {
	var clashed map[string]bool
	var groups [][]string
	// Withholding names only takes ops away, so the rounds end: each one
	// withholds at least one more name of the finite listings.
	for range len(local) + len(remote) + 1 {
		p := reconcile(ancestor, local, remote, mode, clashed)
		more := foldClashes(local, p.Local, mode.LocalFolding)
		more = append(more, foldClashes(remote, p.Remote, mode.RemoteFolding)...)
		fresh := false
		for _, g := range more {
			for _, n := range g {
				if !clashed[n] {
					if clashed == nil {
						clashed = map[string]bool{}
					}
					clashed[n] = true
					fresh = true
				}
			}
		}
		groups = append(groups, more...)
		if !fresh {
			p.Conflicts = append(p.Conflicts, clashRecords(groups, clashed, local, remote)...)
			// After the clashes settled: a rename lands on a name that the
			// creation it replaces would have used, so a withheld name never
			// becomes a rename target.
			detectMoves(&p, local, remote, mode)
			p.Mode = mode
			return p
		}
	}
	panic("syncer: reconcile did not settle its clashes") // unreachable: see the loop bound
}

func reconcile(ancestor, local, remote []tree.Entry, mode Mode, clashed map[string]bool) Plan {
	r := reconciler{
		anc: ancestor, loc: local, rem: remote,
		twoWay:     mode.Direction == config.TwoWay,
		localFirst: mode.Direction == config.LocalToRemote,
		manual:     mode.Conflicts == config.Manual,
		clashes:    clashed,
	}
	r.merge()
	r.markDirty()
	for i := range r.rows {
		r.decide(i)
	}
	var p Plan
	p.Local = r.local.ops()
	p.Remote = r.remote.ops()
	p.LocalDeletes, p.RemoteDeletes = r.local.deletes, r.remote.deletes
	p.Ancestor, p.Conflicts, p.Problems = r.ancestor, r.conflicts, r.problems
	return p
}

// row is one path of the merged walk: indexes into the three lists, -1
// where a list has no entry for the path.
type row struct {
	a, l, r int32
	// dirty flags: something below this path was created or modified on
	// the local (dirtyLocal) or remote (dirtyRemote) side.
	flags uint8
}

const (
	dirtyLocal uint8 = 1 << iota
	dirtyRemote
	// stuck: something below could not be read, so the directory cannot
	// be removed on that side.
	stuckLocal
	stuckRemote
)

// sideOps collects one side's ops in the three execution phases.
type sideOps struct {
	aside, removes, creates []Op
	deletes                 int
	// stuck: the current row's directory on this side holds something
	// unreadable, so it must not be removed.
	stuck bool
}

// ops returns the side's ops in execution order; removals run in reverse
// walk order so that children go before their directory.
func (s *sideOps) ops() []Op {
	n := len(s.aside) + len(s.removes) + len(s.creates)
	if n == 0 {
		return nil
	}
	if n == len(s.creates) {
		// A first sync's ops are all creations: not copied, as a plan
		// holds one per path.
		return s.creates
	}
	out := make([]Op, 0, n)
	out = append(out, s.aside...)
	for i := len(s.removes) - 1; i >= 0; i-- {
		out = append(out, s.removes[i])
	}
	return append(out, s.creates...)
}

type reconciler struct {
	anc, loc, rem []tree.Entry
	rows          []row
	clashes       map[string]bool

	twoWay, localFirst, manual bool

	// skip is a path whose subtree is left alone (problem, case clash,
	// unresolved conflict).
	skip string
	// maskLocal/maskRemote: a directory renamed aside as a conflict copy on
	// that side; what the scan saw below it has moved with it.
	maskLocal, maskRemote string
	// forgotten is the last path forgotten in the ancestor, so its
	// descendants need no entries of their own.
	forgotten string

	local, remote sideOps
	ancestor      []tree.Entry
	conflicts     []conflict.Record
	problems      []ProblemEntry
}

// merge walks the three sorted lists once into rows.
func (r *reconciler) merge() {
	n := len(r.anc)
	if len(r.loc) > n {
		n = len(r.loc)
	}
	if len(r.rem) > n {
		n = len(r.rem)
	}
	r.rows = make([]row, 0, n+n/8)
	var ia, il, ir int
	for ia < len(r.anc) || il < len(r.loc) || ir < len(r.rem) {
		// The smallest path among the three heads. Usually all three hold
		// the same path, which needs no ordering.
		var p string
		have := false
		if ia < len(r.anc) && il < len(r.loc) && ir < len(r.rem) &&
			r.anc[ia].Path == r.loc[il].Path && r.loc[il].Path == r.rem[ir].Path {
			r.rows = append(r.rows, row{a: int32(ia), l: int32(il), r: int32(ir)})
			ia, il, ir = ia+1, il+1, ir+1
			continue
		}
		for _, c := range [...]struct {
			list []tree.Entry
			i    int
		}{{r.anc, ia}, {r.loc, il}, {r.rem, ir}} {
			if c.i < len(c.list) && (!have || tree.Compare(c.list[c.i].Path, p) < 0) {
				p, have = c.list[c.i].Path, true
			}
		}
		w := row{a: -1, l: -1, r: -1}
		if ia < len(r.anc) && r.anc[ia].Path == p {
			w.a = int32(ia)
			ia++
		}
		if il < len(r.loc) && r.loc[il].Path == p {
			w.l = int32(il)
			il++
		}
		if ir < len(r.rem) && r.rem[ir].Path == p {
			w.r = int32(ir)
			ir++
		}
		r.rows = append(r.rows, w)
	}
}

func (r *reconciler) entries(w row) (a, l, rm tree.Entry) {
	if w.a >= 0 {
		a = r.anc[w.a]
	}
	if w.l >= 0 {
		l = r.loc[w.l]
	}
	if w.r >= 0 {
		rm = r.rem[w.r]
	}
	return
}

func (r *reconciler) path(w row) string {
	switch {
	case w.a >= 0:
		return r.anc[w.a].Path
	case w.l >= 0:
		return r.loc[w.l].Path
	}
	return r.rem[w.r].Path
}

// markDirty flags every directory row that has, on a side, a descendant
// created or modified there (dirty) or unreadable there (stuck). Rows come
// in pre-order, so the open directories form a stack of the current row's
// ancestors.
func (r *reconciler) markDirty() {
	var stack []int
	for i, w := range r.rows {
		p := r.path(w)
		for len(stack) > 0 && !tree.IsBelow(p, r.path(r.rows[stack[len(stack)-1]])) {
			stack = stack[:len(stack)-1]
		}
		a, l, rm := r.entries(w)
		var f uint8
		switch {
		case l.Problem != "":
			f |= stuckLocal
		case l.Exists() && !l.SameContent(a):
			f |= dirtyLocal
		}
		switch {
		case rm.Problem != "":
			f |= stuckRemote
		case rm.Exists() && !rm.SameContent(a):
			f |= dirtyRemote
		}
		for j := len(stack) - 1; j >= 0 && f != 0; j-- {
			d := &r.rows[stack[j]]
			f &^= d.flags // an ancestor already flagged has flagged its own ancestors
			d.flags |= f
		}
		if a.Kind == tree.Dir || l.Kind == tree.Dir || rm.Kind == tree.Dir {
			stack = append(stack, i)
		}
	}
}

// state classifies one side's entry against the ancestor.
type state uint8

const (
	unchanged state = iota // same content as the ancestor (or both absent)
	created                // absent in the ancestor
	modified               // other content or kind, or a directory with new content below
	deleted                // in the ancestor, absent here
)

func classify(a, x tree.Entry, dirty bool) state {
	switch {
	case !x.Exists() && !a.Exists():
		return unchanged
	case !x.Exists():
		return deleted
	case !a.Exists():
		return created
	case !x.SameContent(a) || (x.Kind == tree.Dir && dirty):
		return modified
	}
	return unchanged
}

// sameMeta is tree.Entry.SameMeta, except that a symlink's own mode is not
// synced (Linux cannot set it).
func sameMeta(a, b tree.Entry) bool {
	if a.Kind == tree.Symlink {
		return true
	}
	return a.SameMeta(b)
}

// equal reports whether two entries agree on everything that is synced.
func equal(a, b tree.Entry) bool {
	return a.SameContent(b) && (!a.Exists() || sameMeta(a, b))
}

// agreed is the form of an entry stored in the ancestor: side-local fields
// dropped.
func agreed(e tree.Entry) tree.Entry {
	e.Ino = 0
	e.Problem = ""
	return e
}

func sideOf(e tree.Entry) conflict.Side {
	return conflict.Side{Kind: e.Kind.String(), Size: e.Size, Mtime: e.Mtime}
}

func (r *reconciler) decide(i int) {
	w := r.rows[i]
	a, l, rm := r.entries(w)
	p := r.path(w)
	if r.skip != "" && tree.IsBelow(p, r.skip) {
		return
	}
	r.skip = ""
	if r.maskLocal != "" {
		if tree.IsBelow(p, r.maskLocal) {
			l = tree.Entry{}
		} else {
			r.maskLocal = ""
		}
	}
	if r.maskRemote != "" {
		if tree.IsBelow(p, r.maskRemote) {
			rm = tree.Entry{}
		} else {
			r.maskRemote = ""
		}
	}
	if r.forgotten != "" && !tree.IsBelow(p, r.forgotten) {
		r.forgotten = ""
	}

	if l.Problem != "" || rm.Problem != "" {
		if l.Problem != "" {
			r.problems = append(r.problems, ProblemEntry{SideLocal, l})
		}
		if rm.Problem != "" {
			r.problems = append(r.problems, ProblemEntry{SideRemote, rm})
		}
		r.skip = p
		return
	}
	if r.clashes[p] {
		// Recorded by Reconcile, once for all the colliding names.
		r.skip = p
		return
	}

	// Both sides agree on everything: at most the ancestor learns it.
	if equal(l, rm) {
		if !l.Exists() {
			if a.Exists() {
				r.forget(p)
			}
		} else if !equal(a, l) || !a.Exists() {
			r.record(l)
		}
		return
	}
	// Same content, other metadata.
	if l.SameContent(rm) {
		var fromLocal bool
		switch {
		case !r.twoWay:
			fromLocal = r.localFirst
		case equal(rm, a):
			fromLocal = true
		case equal(l, a):
			fromLocal = false
		default:
			fromLocal = l.Mtime > rm.Mtime
		}
		if fromLocal {
			r.remote.creates = append(r.remote.creates, Op{Kind: OpSetMeta, Path: p, Entry: l, Expect: rm})
		} else {
			r.local.creates = append(r.local.creates, Op{Kind: OpSetMeta, Path: p, Entry: rm, Expect: l})
		}
		return
	}

	r.local.stuck = w.flags&stuckLocal != 0
	r.remote.stuck = w.flags&stuckRemote != 0
	ls := classify(a, l, w.flags&dirtyLocal != 0)
	rs := classify(a, rm, w.flags&dirtyRemote != 0)

	if r.twoWay {
		switch {
		case ls == unchanged:
			r.put(&r.local, p, rm, l)
		case rs == unchanged:
			r.put(&r.remote, p, l, rm)
		case ls == deleted:
			r.put(&r.local, p, rm, l)
		case rs == deleted:
			r.put(&r.remote, p, l, rm)
		default:
			r.conflict(p, a, l, rm)
		}
		return
	}

	// One-way: name the sending (src) and receiving (dst) sides.
	src, dst, ss, ds := rm, l, rs, ls
	dstOps := &r.local
	if r.localFirst {
		src, dst, ss, ds = l, rm, ls, rs
		dstOps = &r.remote
	}
	switch {
	case ds == unchanged, ds == deleted:
		r.put(dstOps, p, src, dst)
	case ds == created && !src.Exists():
		// Only the receiving side has it: it stays there, unrecorded.
	case ss == deleted:
		// The sender deleted what the receiver changed: keep the change,
		// report it once, and treat the path as receiver-only from now on.
		if dst.Kind != tree.Dir {
			r.conflicts = append(r.conflicts, r.record4(p, conflict.DeletedModified, l, rm))
		}
		r.forget(p)
	default:
		reason := MirrorModified
		if ss != unchanged {
			reason = conflict.BothModified
		}
		r.conflictOneWay(p, reason, src, dst, dstOps)
	}
}

func (r *reconciler) record4(p string, reason conflict.Reason, l, rm tree.Entry) conflict.Record {
	if l.Exists() && rm.Exists() && l.Kind != rm.Kind {
		reason = conflict.TypeClash
	}
	return conflict.Record{Path: p, Reason: reason, Local: sideOf(l), Remote: sideOf(rm)}
}

// conflict handles both sides creating or modifying p differently in a
// two-way job: the local version is moved aside and the remote one taken.
func (r *reconciler) conflict(p string, a, l, rm tree.Entry) {
	r.conflicts = append(r.conflicts, r.record4(p, conflict.BothModified, l, rm))
	if r.manual {
		r.skip = p
		return
	}
	r.aside(&r.local, p, l, true)
	r.maskLocal = p
	r.put(&r.local, p, rm, tree.Entry{})
}

// conflictOneWay keeps the receiver's version as a conflict copy on the
// receiving side and takes the sender's.
func (r *reconciler) conflictOneWay(p string, reason conflict.Reason, src, dst tree.Entry, dstOps *sideOps) {
	l, rm := dst, src
	if r.localFirst {
		l, rm = src, dst
	}
	r.conflicts = append(r.conflicts, r.record4(p, reason, l, rm))
	if r.manual {
		r.skip = p
		return
	}
	r.aside(dstOps, p, dst, false)
	if r.localFirst {
		r.maskRemote = p
	} else {
		r.maskLocal = p
	}
	r.put(dstOps, p, src, tree.Entry{})
}

func (r *reconciler) aside(s *sideOps, p string, x tree.Entry, mirror bool) {
	s.aside = append(s.aside, Op{Kind: OpCopyAside, Path: p, Expect: x, Mirror: mirror && x.Kind != tree.Dir})
}

// put makes side s's x at path p into y.
func (r *reconciler) put(s *sideOps, p string, y, x tree.Entry) {
	if s.stuck && x.Kind == tree.Dir && y.Kind != tree.Dir {
		// Removing it would fail on what could not be read; leave it
		// (and the ancestor) as they are until the problem is fixed.
		return
	}
	if x.Exists() && (!y.Exists() || x.Kind != y.Kind) {
		// The remove op forgets the path when it succeeds.
		s.removes = append(s.removes, Op{Kind: OpRemove, Path: p, Expect: x})
		s.deletes++
		x = tree.Entry{}
	} else if !y.Exists() {
		// Nothing on either side; only the ancestor knew it.
		r.forget(p)
	}
	switch {
	case !y.Exists():
	case x.Exists() && y.SameContent(x):
		s.creates = append(s.creates, Op{Kind: OpSetMeta, Path: p, Entry: y, Expect: x})
	case y.Kind == tree.File:
		s.creates = append(s.creates, Op{Kind: OpTransfer, Path: p, Entry: y, Expect: x})
	case y.Kind == tree.Dir:
		s.creates = append(s.creates, Op{Kind: OpMkdir, Path: p, Entry: y, Expect: x})
	case y.Kind == tree.Symlink:
		s.creates = append(s.creates, Op{Kind: OpSymlink, Path: p, Entry: y, Expect: x})
	}
}

func (r *reconciler) record(e tree.Entry) {
	r.ancestor = append(r.ancestor, agreed(e))
}

func (r *reconciler) forget(p string) {
	if r.forgotten != "" && tree.IsBelow(p, r.forgotten) {
		return
	}
	r.ancestor = append(r.ancestor, tree.Entry{Path: p})
	r.forgotten = p
}

// foldClashes returns the groups of names that one side would hold after
// its ops and that its filesystem takes for one name (each group sorted by
// tree.Compare).
func foldClashes(list []tree.Entry, ops []Op, f endpoint.Folding) [][]string {
	if !f.Folds() {
		return nil
	}
	gone := map[string]bool{}
	var creates []string
	for _, op := range ops {
		switch op.Kind {
		case OpRemove, OpCopyAside:
			gone[op.Path] = true
		case OpTransfer, OpMkdir, OpSymlink:
			if !op.Expect.Exists() {
				creates = append(creates, op.Path)
			}
		}
	}
	first := make(map[string]string, len(list)+len(creates))
	var clash map[string][]string
	add := func(p string) {
		k := f.Key(p)
		q, ok := first[k]
		switch {
		case !ok:
			first[k] = p
		case q != p:
			if clash == nil {
				clash = map[string][]string{}
			}
			if clash[k] == nil {
				clash[k] = []string{q}
			}
			if !slices.Contains(clash[k], p) {
				clash[k] = append(clash[k], p)
			}
		}
	}
	var moved string // a directory renamed aside: what was below it went too
	for _, e := range list {
		if moved != "" && tree.IsBelow(e.Path, moved) {
			continue
		}
		moved = ""
		if gone[e.Path] {
			if e.Kind == tree.Dir {
				moved = e.Path
			}
			continue
		}
		add(e.Path)
	}
	for _, p := range creates {
		add(p)
	}
	out := make([][]string, 0, len(clash))
	for _, g := range clash {
		slices.SortFunc(g, tree.Compare)
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b []string) int { return tree.Compare(a[0], b[0]) })
	return out
}

// clashRecords makes one conflict per clash group, leaving out groups
// already listed and groups below a clashing name (their whole subtree is
// withheld already).
func clashRecords(groups [][]string, clashed map[string]bool, local, remote []tree.Entry) []conflict.Record {
	var out []conflict.Record
	listed := map[string]bool{}
	for _, g := range groups {
		// A later round can find a group again, or part of it.
		if !slices.ContainsFunc(g, func(n string) bool { return !listed[n] }) || belowClash(g[0], clashed) {
			continue
		}
		for _, n := range g {
			listed[n] = true
		}
		reason := conflict.NormalizationClash
		nfc := endpoint.Folding{Normalization: true}
		names := make([]conflict.ClashName, len(g))
		for i, n := range g {
			names[i] = conflict.ClashName{Path: n, Local: find(local, n), Remote: find(remote, n)}
			if nfc.Key(n) != nfc.Key(g[0]) {
				reason = conflict.CaseClash
			}
		}
		out = append(out, conflict.Record{
			Path: g[0], Reason: reason, Clash: names,
			Local: sideOf(entryAt(local, g[0])), Remote: sideOf(entryAt(remote, g[0])),
		})
	}
	slices.SortFunc(out, func(a, b conflict.Record) int { return tree.Compare(a.Path, b.Path) })
	return out
}

// belowClash reports whether a directory above p is a clashing name.
func belowClash(p string, clashed map[string]bool) bool {
	for i := len(p) - 1; i > 0; i-- {
		if p[i] == '/' && clashed[p[:i]] {
			return true
		}
	}
	return false
}

func entryAt(list []tree.Entry, p string) tree.Entry {
	i := sort.Search(len(list), func(i int) bool { return tree.Compare(list[i].Path, p) >= 0 })
	if i < len(list) && list[i].Path == p {
		return list[i]
	}
	return tree.Entry{Path: p}
}

func find(list []tree.Entry, p string) bool {
	i := sort.Search(len(list), func(i int) bool { return tree.Compare(list[i].Path, p) >= 0 })
	return i < len(list) && list[i].Path == p
}
