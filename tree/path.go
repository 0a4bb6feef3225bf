package tree

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on names, matching common Linux filesystems.
const (
	MaxPathLen = 4096
	MaxNameLen = 255
)

// ErrInvalidPath is wrapped by every error ValidPath returns.
var ErrInvalidPath = errors.New("invalid path")

// ValidPath checks that p is a clean, relative, slash-separated path that
// stays inside its root: not empty, not absolute, no "." or ".." elements, no
// empty elements, no NUL byte, no backslash, valid UTF-8, and within the
// length limits. UTF-8 is required because paths travel in control messages
// whose strings must be UTF-8, and other filesystems may not store the bytes.
func ValidPath(p string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidPath, p, why) }
	switch {
	case p == "":
		return bad("empty")
	case len(p) > MaxPathLen:
		return bad("longer than 4096 bytes")
	case strings.IndexByte(p, 0) >= 0:
		return bad("contains NUL")
	case strings.IndexByte(p, '\\') >= 0:
		return bad("contains a backslash")
	case p[0] == '/':
		return bad("absolute")
	case !utf8.ValidString(p):
		return bad("not valid UTF-8")
	}
	// strings.SplitSeq: a scan checks every path it stores, and a slice
	// per path was most of what checking cost.
	for el := range strings.SplitSeq(p, "/") {
		switch {
		case el == "":
			return bad("empty element")
		case el == "." || el == "..":
			return bad("contains " + el)
		case len(el) > MaxNameLen:
			return bad("element longer than 255 bytes")
		}
	}
	return nil
}
