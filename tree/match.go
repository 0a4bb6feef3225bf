package tree

import (
	"fmt"
	"path"
	"strings"
)

// Matcher decides which paths a scan leaves out, from gitignore-style
// patterns. It is immutable once built and safe for concurrent use.
//
// Supported syntax, a subset of gitignore:
//   - "*.tmp" (no slash) matches a base name at any depth;
//   - a trailing "/" ("build/") matches directories only;
//   - a slash anywhere else anchors the pattern at the root ("docs/*.md",
//     "/build"); a leading "/" only anchors and is otherwise ignored;
//   - "**" as a whole element matches any number of elements (a trailing
//     "/**" matches everything inside a directory but not the directory);
//   - a leading "!" re-includes what an earlier pattern excluded; as in git,
//     nothing below an excluded directory can be re-included;
//   - every other element is matched with path.Match ("*", "?", "[a-z]",
//     backslash escapes).
//
// Blank patterns are ignored. The last pattern that matches a path decides.
type Matcher struct {
	rules []rule
}

type rule struct {
	negate   bool
	dirOnly  bool
	anchored bool
	// elems holds the pattern's elements; an unanchored rule has exactly
	// one, matched against the base name.
	elems []string
}

// NewMatcher compiles patterns. An invalid pattern gives an error naming it.
func NewMatcher(patterns []string) (*Matcher, error) {
	m := &Matcher{}
	for _, p := range patterns {
		r, ok, err := parseRule(p)
		if err != nil {
			return nil, fmt.Errorf("unable to use exclude pattern %q: %w", p, err)
		}
		if ok {
			m.rules = append(m.rules, r)
		}
	}
	return m, nil
}

func parseRule(p string) (rule, bool, error) {
	var r rule
	s := strings.TrimSpace(p)
	if s == "" {
		return r, false, nil
	}
	if strings.HasPrefix(s, "!") {
		r.negate = true
		s = s[1:]
	}
	if strings.HasSuffix(s, "/") {
		r.dirOnly = true
		s = strings.TrimRight(s, "/")
	}
	if strings.HasPrefix(s, "/") {
		r.anchored = true
		s = s[1:]
	}
	if strings.Contains(s, "/") {
		r.anchored = true
	}
	if s == "" {
		return r, false, fmt.Errorf("pattern matches nothing (it is only slashes or \"!\")")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return r, false, fmt.Errorf("pattern contains NUL")
	}
	r.elems = strings.Split(s, "/")
	for _, el := range r.elems {
		if el == "" {
			return r, false, fmt.Errorf("pattern has an empty element (\"//\")")
		}
		if el == "**" {
			continue
		}
		if _, err := path.Match(el, ""); err != nil {
			return r, false, fmt.Errorf("malformed element %q: %w", el, err)
		}
	}
	return r, true, nil
}

// Match reports whether p (slash-separated, relative to the root) is
// excluded. isDir says whether p itself is a directory. A path below an
// excluded directory is excluded too, whatever later patterns say.
func (m *Matcher) Match(p string, isDir bool) bool {
	if m == nil || len(m.rules) == 0 {
		return false
	}
	// Check every ancestor as a directory first: gitignore cannot re-include
	// a path whose parent directory is excluded.
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && m.matchOne(p[:i], true) {
			return true
		}
	}
	return m.matchOne(p, isDir)
}

func (m *Matcher) matchOne(p string, isDir bool) bool {
	excluded := false
	var elems []string // split lazily: most rules only need the base name
	for i := len(m.rules) - 1; i >= 0; i-- {
		r := &m.rules[i]
		if r.dirOnly && !isDir {
			continue
		}
		var hit bool
		if r.anchored {
			if elems == nil {
				elems = strings.Split(p, "/")
			}
			hit = matchElems(r.elems, elems)
		} else {
			hit = matchElem(r.elems[0], Base(p))
		}
		if hit {
			excluded = !r.negate
			break
		}
	}
	return excluded
}

func matchElem(pattern, name string) bool {
	if pattern == "**" {
		return true
	}
	ok, _ := path.Match(pattern, name) // patterns were validated in NewMatcher
	return ok
}

// matchElems matches pattern elements against path elements, "**" standing
// for any number of path elements. It is a dynamic programme over
// (pattern, path) positions so that many "**" cannot blow up.
func matchElems(pat, elems []string) bool {
	// cur[j] reports whether pat[:i] matches elems[:j].
	cur := make([]bool, len(elems)+1)
	next := make([]bool, len(elems)+1)
	cur[0] = true
	for i, pe := range pat {
		for j := range next {
			next[j] = false
		}
		if pe == "**" {
			// A trailing "**" needs at least one element: "a/**" is what is
			// inside a, not a itself.
			last := i == len(pat)-1
			seen := false
			for j := 0; j <= len(elems); j++ {
				if last && seen {
					next[j] = true
				} else if !last && (seen || cur[j]) {
					next[j] = true
				}
				if cur[j] {
					seen = true
				}
			}
		} else {
			for j := 1; j <= len(elems); j++ {
				if cur[j-1] && matchElem(pe, elems[j-1]) {
					next[j] = true
				}
			}
		}
		cur, next = next, cur
	}
	return cur[len(elems)]
}
