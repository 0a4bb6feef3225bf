package tree

import (
	"errors"
	"fmt"
	"strings"
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
// empty elements, no NUL byte, no backslash, and within the length limits.
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
	}
	for _, el := range strings.Split(p, "/") {
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
