package tree

import (
	"path"
	"slices"
	"strings"
)

// Scope is the part of a tree a scoped pass looks at: the whole subtree of
// each of its roots, and, as context only, every directory on the way from
// the tree's root down to a root's parent (the directory itself, not its
// other children). The zero Scope is the whole tree.
type Scope struct {
	roots   []string        // minimal, sorted by Compare; nil: the whole tree
	context map[string]bool // the directories above the roots
}

// NewScope makes the scope of paths, slash-separated and relative: each is
// cleaned, a path below another is dropped, and "" or "." (the tree's
// root) makes the whole tree. nil or no valid path is the whole tree too,
// as is a path that is not valid (ValidPath): nothing can say what part of
// the tree it names.
func NewScope(paths []string) Scope {
	if len(paths) == 0 {
		return Scope{}
	}
	roots := make([]string, 0, len(paths))
	for _, p := range paths {
		p = strings.Trim(path.Clean("/"+p), "/")
		if p == "" || ValidPath(p) != nil {
			return Scope{}
		}
		roots = append(roots, p)
	}
	slices.SortFunc(roots, Compare)
	roots = slices.Compact(roots)
	// In Compare order a path's subtree directly follows it, so a path
	// below another comes right after it or after other paths below it.
	kept := roots[:0]
	for _, p := range roots {
		if len(kept) > 0 && IsBelow(p, kept[len(kept)-1]) {
			continue
		}
		kept = append(kept, p)
	}
	s := Scope{roots: kept, context: map[string]bool{}}
	for _, p := range kept {
		for d := Parent(p); d != "" && !s.context[d]; d = Parent(d) {
			s.context[d] = true
		}
	}
	return s
}

// Whole reports whether the scope is the whole tree.
func (s Scope) Whole() bool { return s.roots == nil }

// Roots returns the scope's roots in Compare order; nil for the whole tree.
// The caller must not change them.
func (s Scope) Roots() []string { return s.roots }

// Items lists what a listing of the scope holds, in Compare order: each
// context directory (Subtree false, the entry alone) and each root
// (Subtree true, the entry and everything below it). nil for the whole
// tree.
func (s Scope) Items() []ScopeItem {
	if s.Whole() {
		return nil
	}
	items := make([]ScopeItem, 0, len(s.roots)+len(s.context))
	for _, p := range s.roots {
		items = append(items, ScopeItem{Path: p, Subtree: true})
	}
	for d := range s.context {
		items = append(items, ScopeItem{Path: d})
	}
	slices.SortFunc(items, func(a, b ScopeItem) int { return Compare(a.Path, b.Path) })
	return items
}

// ScopeItem is one part of a scope's listing.
type ScopeItem struct {
	Path    string
	Subtree bool
}

// Contains reports whether p lies in the scope, and whether it is there
// only as context (a directory above a root, not to be acted on).
func (s Scope) Contains(p string) (in, context bool) {
	if s.Whole() {
		return true, false
	}
	if s.context[p] {
		return true, true
	}
	return s.InSubtree(p), false
}

// InSubtree reports whether p is a root or lies below one.
func (s Scope) InSubtree(p string) bool {
	_, ok := s.RootOf(p)
	return ok
}

// RootOf returns the root p is or lies below; "" and true for the whole
// tree, false when p is outside every root's subtree.
func (s Scope) RootOf(p string) (string, bool) {
	if s.Whole() {
		return "", true
	}
	for q := p; q != ""; q = Parent(q) {
		if _, found := slices.BinarySearchFunc(s.roots, q, Compare); found {
			return q, true
		}
	}
	return "", false
}

// IsContext reports whether p is a directory above a root.
func (s Scope) IsContext(p string) bool { return s.context[p] }
