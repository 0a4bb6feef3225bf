package tree

import (
	"errors"
	"strings"
	"testing"
)

func TestValidPath(t *testing.T) {
	for _, tc := range []struct {
		p  string
		ok bool
	}{
		{"a", true},
		{"a/b/c", true},
		{"caf\u00e9/\u65e5\u672c", true},
		{strings.Repeat("x", MaxNameLen), true},
		{"", false},
		{"/a", false},
		{"a//b", false},
		{"a/", false},
		{"./a", false},
		{"a/../b", false},
		{"a\x00b", false},
		{`a\b`, false},
		{strings.Repeat("x", MaxNameLen+1), false},
		{strings.Repeat("a/", MaxPathLen/2) + "a", false},
		// Not UTF-8: a control message cannot carry it.
		{"bad\xff", false},
		{"d/caf\xe9", false},
		{"\xed\xa0\x80", false}, // a UTF-16 surrogate encoded as UTF-8
	} {
		err := ValidPath(tc.p)
		if (err == nil) != tc.ok {
			t.Errorf("ValidPath(%q) = %v, want ok=%v", tc.p, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidPath) {
			t.Errorf("ValidPath(%q) = %v, does not wrap ErrInvalidPath", tc.p, err)
		}
	}
}

func TestValidPathRejectsInvalidUTF8(t *testing.T) {
	err := ValidPath("bad\xff")
	if err == nil || !strings.Contains(err.Error(), "not valid UTF-8") {
		t.Fatalf("ValidPath(bad\\xff) = %v, want a 'not valid UTF-8' error", err)
	}
}
