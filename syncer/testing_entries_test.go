package syncer

import (
	"fmt"
	"strings"

	"github.com/ferry-sync/ferry/tree"
)

// Fixture entries for reconcile tests. Paths are filled in with at; the
// hash of a file fixture is its number, so plans print readably.
var (
	// tF1 is the original content of a file.
	tF1 = tree.Entry{Kind: tree.File, Size: 10, Mtime: 1000, Mode: 0o644, Hash: 1}
	// tF1x is tF1 made executable (metadata-only change).
	tF1x = tree.Entry{Kind: tree.File, Size: 10, Mtime: 1000, Mode: 0o755, Hash: 1}
	// tF1late is tF1's content with a later mtime.
	tF1late = tree.Entry{Kind: tree.File, Size: 10, Mtime: 2000, Mode: 0o644, Hash: 1}
	// tF2 is a local edit, tF3 a remote edit.
	tF2 = tree.Entry{Kind: tree.File, Size: 20, Mtime: 1000, Mode: 0o644, Hash: 2}
	tF3 = tree.Entry{Kind: tree.File, Size: 30, Mtime: 1000, Mode: 0o644, Hash: 3}
	// tB1 is a file big enough for a block delta, tB2 an edit of it.
	tB1 = tree.Entry{Kind: tree.File, Size: 8 << 20, Mtime: 1000, Mode: 0o644, Hash: 11}
	tB2 = tree.Entry{Kind: tree.File, Size: 8<<20 + 1, Mtime: 1000, Mode: 0o644, Hash: 12}
	// tD1 is a directory.
	tD1 = tree.Entry{Kind: tree.Dir, Mtime: 1000, Mode: 0o755}
	// tS1 and tS2 are symlinks with different targets.
	tS1 = tree.Entry{Kind: tree.Symlink, Mtime: 1000, Mode: 0o777, Target: "t1"}
	tS2 = tree.Entry{Kind: tree.Symlink, Mtime: 1000, Mode: 0o777, Target: "t2"}
	// tSout points outside the root; it is synced as a link, never followed.
	tSout = tree.Entry{Kind: tree.Symlink, Mtime: 1000, Mode: 0o777, Target: "../../etc/passwd"}
)

// at returns e placed at path p.
func at(p string, e tree.Entry) tree.Entry {
	e.Path = p
	return e
}

// ents builds a sorted list from alternating path, entry pairs.
func ents(pairs ...any) []tree.Entry {
	var out []tree.Entry
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, at(pairs[i].(string), pairs[i+1].(tree.Entry)))
	}
	return out
}

// problem returns e marked unreadable.
func problem(e tree.Entry) tree.Entry {
	e.Problem = "permission denied"
	return e
}

// fixtureName prints an entry the way expected plans spell it: f<hash> for
// files, d for directories, s:<target> for links, with +m<mode> and
// @<mtime> when they differ from the fixtures' defaults.
func fixtureName(e tree.Entry) string {
	var b strings.Builder
	switch e.Kind {
	case tree.File:
		fmt.Fprintf(&b, "f%d", e.Hash)
		if e.Mode != 0o644 {
			fmt.Fprintf(&b, "+m%o", e.Mode)
		}
	case tree.Dir:
		b.WriteString("d")
		if e.Mode != 0o755 {
			fmt.Fprintf(&b, "+m%o", e.Mode)
		}
	case tree.Symlink:
		b.WriteString("s:" + e.Target)
	default:
		return "-"
	}
	if e.Kind != tree.Symlink && e.Mtime != 1000 {
		fmt.Fprintf(&b, "@%d", e.Mtime)
	}
	return b.String()
}

// describePlan prints a plan as the lines expected plans are written in:
//
//	L|R <op> <path> <entry> [over <expect>] [mirror]
//	L|R rename <path> <entry> from <old path> <old entry> [+<n> below]
//	L|R copy <path> <entry> from <source path> <source entry>
//	A record <path> <entry> | A forget <path>
//	C <path> <reason> <local kind>/<remote kind>
//	P <path>
//	D <local deletes>/<remote deletes>
func describePlan(p Plan) []string {
	var out []string
	ops := func(side string, list []Op) {
		for _, op := range list {
			var s string
			switch op.Kind {
			case OpRemove, OpCopyAside:
				s = fmt.Sprintf("%s %s %s %s", side, op.Kind, op.Path, fixtureName(op.Expect))
			case OpRename:
				s = fmt.Sprintf("%s rename %s %s from %s %s", side, op.Path, fixtureName(op.Entry), op.Expect.Path, fixtureName(op.Expect))
				if len(op.Below) > 0 {
					s += fmt.Sprintf(" +%d below", len(op.Below))
				}
				if op.Edit {
					s += " edit"
				}
			case OpCopy:
				s = fmt.Sprintf("%s copy %s %s from %s %s", side, op.Path, fixtureName(op.Entry), op.From.Path, fixtureName(*op.From))
			default:
				s = fmt.Sprintf("%s %s %s %s", side, op.Kind, op.Path, fixtureName(op.Entry))
				if op.Expect.Exists() {
					s += " over " + fixtureName(op.Expect)
				}
			}
			if op.Mirror {
				s += " mirror"
			}
			out = append(out, s)
		}
	}
	ops("L", p.Local)
	ops("R", p.Remote)
	for _, e := range p.Ancestor {
		if e.Exists() {
			out = append(out, fmt.Sprintf("A record %s %s", e.Path, fixtureName(e)))
		} else {
			out = append(out, "A forget "+e.Path)
		}
	}
	for _, c := range p.Conflicts {
		line := fmt.Sprintf("C %s %s %s/%s", c.Path, c.Reason, c.Local.Kind, c.Remote.Kind)
		if len(c.Clash) > 0 {
			line += " [" + strings.Join(c.Names(), " ") + "]"
		}
		out = append(out, line)
	}
	for _, e := range p.Problems {
		out = append(out, "P "+e.Path)
	}
	if p.LocalDeletes != 0 || p.RemoteDeletes != 0 {
		out = append(out, fmt.Sprintf("D %d/%d", p.LocalDeletes, p.RemoteDeletes))
	}
	return out
}
