package tree

import (
	"strings"
	"testing"
)

func TestMatcher(t *testing.T) {
	type probe struct {
		path  string
		isDir bool
		want  bool
	}
	cases := []struct {
		name     string
		patterns []string
		probes   []probe
	}{
		{"no patterns", nil, []probe{{"a", false, false}, {"a/b", true, false}}},
		{"base name at any depth", []string{"*.tmp"}, []probe{
			{"x.tmp", false, true},
			{"a/b/x.tmp", false, true},
			{"a/x.tmp.keep", false, false},
			{"tmp", false, false},
			{"x.tmp", true, true},
		}},
		{"directory only", []string{"build/"}, []probe{
			{"build", true, true},
			{"build", false, false},
			{"src/build", true, true},
			{"build/out.o", false, true},
			{"src/build/deep/x", false, true},
			{"builder", true, false},
		}},
		{"anchored by inner slash", []string{"docs/*.md"}, []probe{
			{"docs/a.md", false, true},
			{"docs/sub/a.md", false, false},
			{"x/docs/a.md", false, false},
			{"docs", true, false},
		}},
		{"anchored by leading slash", []string{"/build"}, []probe{
			{"build", true, true},
			{"build", false, true},
			{"src/build", true, false},
			{"build/x", false, true},
		}},
		{"double star prefix", []string{"**/cache"}, []probe{
			{"cache", true, true},
			{"a/cache", false, true},
			{"a/b/c/cache", true, true},
			{"a/cachex", false, false},
		}},
		{"double star middle", []string{"a/**/z.txt"}, []probe{
			{"a/z.txt", false, true},
			{"a/b/z.txt", false, true},
			{"a/b/c/z.txt", false, true},
			{"b/a/z.txt", false, false},
			{"a/b/c/z.txt2", false, false},
		}},
		{"double star suffix excludes contents not dir", []string{"logs/**"}, []probe{
			{"logs", true, false},
			{"logs/x", false, true},
			{"logs/a/b", false, true},
			{"logsx/a", false, false},
		}},
		{"character class and question mark", []string{"file?.[ch]"}, []probe{
			{"file1.c", false, true},
			{"d/fileA.h", false, true},
			{"file12.c", false, false},
			{"file1.o", false, false},
		}},
		{"negation re-includes", []string{"*.log", "!keep.log"}, []probe{
			{"a.log", false, true},
			{"keep.log", false, false},
			{"d/keep.log", false, false},
		}},
		{"negation cannot re-include below an excluded dir", []string{"out/", "!out/keep"}, []probe{
			{"out", true, true},
			{"out/keep", false, true},
		}},
		{"last match wins", []string{"!a.txt", "*.txt"}, []probe{
			{"a.txt", false, true},
		}},
		{"escaped star is literal", []string{`\*.txt`}, []probe{
			{"*.txt", false, true},
			{"a.txt", false, false},
		}},
		{"blank patterns ignored", []string{"", "  "}, []probe{{"a", false, false}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := NewMatcher(c.patterns)
			if err != nil {
				t.Fatalf("NewMatcher(%q): %v", c.patterns, err)
			}
			for _, p := range c.probes {
				if got := m.Match(p.path, p.isDir); got != p.want {
					t.Errorf("patterns %q: Match(%q, dir=%v) = %v, want %v", c.patterns, p.path, p.isDir, got, p.want)
				}
			}
		})
	}
}

func TestNewMatcherRejectsInvalid(t *testing.T) {
	for _, p := range []string{"[a-", "a/[", "/", "!", "a//b", "x\x00"} {
		_, err := NewMatcher([]string{"ok", p})
		if err == nil {
			t.Errorf("NewMatcher accepted invalid pattern %q", p)
			continue
		}
		if !strings.Contains(err.Error(), "\""+strings.ReplaceAll(p, "\x00", `\x00`)+"\"") {
			t.Errorf("error for %q does not name the pattern: %v", p, err)
		}
	}
}

func TestNilMatcherMatchesNothing(t *testing.T) {
	var m *Matcher
	if m.Match("a", false) {
		t.Fatal("nil matcher excluded a path")
	}
}

// FuzzMatcher checks invariants that must hold for any pattern: no panic,
// a path under an excluded directory is excluded, a "dir only" pattern never
// excludes a file by itself, and anchored literal patterns match themselves.
func FuzzMatcher(f *testing.F) {
	f.Add("*.tmp", "a/b.tmp", false)
	f.Add("build/", "build/x", false)
	f.Add("a/**/b", "a/x/y/b", true)
	f.Add("!x", "x", true)
	f.Add("[", "a", false)
	f.Fuzz(func(t *testing.T, pattern, p string, isDir bool) {
		m, err := NewMatcher([]string{pattern})
		if err != nil {
			return
		}
		if ValidPath(p) != nil {
			return
		}
		got := m.Match(p, isDir)
		if parent := Parent(p); parent != "" && m.Match(parent, true) && !got {
			t.Fatalf("pattern %q excludes dir %q but not %q below it", pattern, parent, p)
		}
		if strings.HasSuffix(strings.TrimSpace(pattern), "/") && !isDir && got {
			parentHit := false
			for q := Parent(p); q != ""; q = Parent(q) {
				if m.Match(q, true) {
					parentHit = true
				}
			}
			if !parentHit {
				t.Fatalf("dir-only pattern %q excluded file %q", pattern, p)
			}
		}
		if !strings.ContainsAny(p, `*?[\`) && strings.TrimSpace(p) == p {
			lit, err := NewMatcher([]string{"/" + p})
			if err != nil {
				t.Fatalf("literal pattern for valid path %q rejected: %v", p, err)
			}
			if !lit.Match(p, isDir) {
				t.Fatalf("literal anchored pattern /%s does not match itself", p)
			}
		}
	})
}
