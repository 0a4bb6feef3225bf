package syncer

import (
	"fmt"
	"strings"

	"github.com/ferry-sync/ferry/tree"
)

// A scoped pass (Options.Within) reads, scans and reconciles only the
// paths that changed: each one's subtree, and the directories above them
// as context. It must come to what a whole pass would for those paths, so
// it runs whole instead (escalates) whenever it cannot be sure of that:
// see the predicates below. Each is cheap; none reads outside the scope.

// escalation says why a scoped pass runs whole instead.
type escalation struct{ reason string }

func (e *escalation) Error() string { return "the scoped pass runs whole: " + e.reason }

func escalate(format string, args ...any) *escalation {
	return &escalation{reason: fmt.Sprintf(format, args...)}
}

// inScope returns the filter a scoped pass's scans go through: an endpoint
// may ignore ScanOptions.Within and list everything.
func inScope(scope tree.Scope) func(p string) bool {
	if scope.Whole() {
		return func(string) bool { return true }
	}
	return func(p string) bool {
		in, _ := scope.Contains(p)
		return in
	}
}

// dropContext takes the scope's context directories out of what the merge
// kept: they are there to be checked, not acted on. It returns an
// escalation if one of them is not a readable directory on every side and
// in the ancestor (removed, replaced, renamed away, unreadable): a change
// to it belongs to a whole pass.
func dropContext(g *gathered, scope tree.Scope) *escalation {
	if scope.Whole() {
		return nil
	}
	lists := [3]*[]tree.Entry{&g.ancestor, &g.local, &g.remote}
	names := [3]string{"ancestor", SideLocal, SideRemote}
	seen := map[string][3]bool{}
	for i, l := range lists {
		kept := (*l)[:0]
		for _, e := range *l {
			if !scope.IsContext(e.Path) {
				kept = append(kept, e)
				continue
			}
			if e.Kind != tree.Dir || e.Problem != "" {
				return escalate("%q, a directory above the changed paths, is a %s on the %s side", e.Path, kindText(e), names[i])
			}
			s := seen[e.Path]
			s[i] = true
			seen[e.Path] = s
		}
		clear((*l)[len(kept):])
		*l = kept
	}
	// A context directory the merge kept differs somewhere (else it was
	// settled and dropped): it must still be on all three.
	for p, s := range seen {
		for i, ok := range s {
			if !ok {
				return escalate("%q, a directory above the changed paths, is missing from the %s", p, names[i])
			}
		}
	}
	return nil
}

func kindText(e tree.Entry) string {
	if e.Problem != "" {
		return "path that cannot be read"
	}
	return e.Kind.String()
}

// deletesTopLevel returns an escalation when the plan removes or moves
// away an entry directly below the root on either side: a scoped pass has
// not seen the rest of the root, so it cannot tell a root being emptied
// (`rm -rf folder/*`, which rootEmptied halts) from an ordinary delete.
func deletesTopLevel(p *Plan) *escalation {
	for _, side := range [2]struct {
		name string
		ops  []Op
	}{{SideLocal, p.Local}, {SideRemote, p.Remote}} {
		for _, op := range side.ops {
			gone := ""
			switch op.Kind {
			case OpRemove:
				gone = op.Path
			case OpRename:
				gone = op.Expect.Path
			}
			if gone != "" && !strings.Contains(gone, "/") {
				return escalate("it would remove %q, directly below the %s root", gone, side.name)
			}
		}
	}
	return nil
}
