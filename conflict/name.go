package conflict

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ferry-sync/ferry/tree"
)

// Marker is inserted before a name's extension to make its conflict copy.
const Marker = ".conflict-mine"

// MaxAttempts bounds FreeName: after this many taken names it gives up
// rather than probe a directory forever.
const MaxAttempts = 10000

// Name returns the n-th candidate name for the conflict copy of path:
// n=1 gives "log.conflict-mine.txt", n=2 "log.conflict-mine-2.txt". Only the
// last extension moves behind the marker ("archive.tar.gz" gives
// "archive.tar.conflict-mine.gz"), a name that is only a leading-dot name
// (".bashrc") or has no dot has no extension, and the directory part of path
// is kept. n below 1 is treated as 1. A name that would outgrow
// tree.MaxNameLen is shortened (at a UTF-8 boundary) so the copy can exist.
func Name(path string, n int) string {
	dir, base := "", path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		dir, base = path[:i+1], path[i+1:]
	}
	stem, ext := splitExt(base)
	mark := Marker
	if n > 1 {
		mark += "-" + strconv.Itoa(n)
	}
	if over := len(stem) + len(mark) + len(ext) - tree.MaxNameLen; over > 0 {
		if over > len(stem) {
			// The extension alone is too long to keep: treat the whole
			// name as a stem.
			stem, ext = stem+ext, ""
			over = len(stem) + len(mark) - tree.MaxNameLen
		}
		stem = cutEnd(stem, over)
	}
	return dir + stem + mark + ext
}

// splitExt splits base before its last dot, ignoring leading dots so that
// ".bashrc" and "..x" have no extension.
func splitExt(base string) (stem, ext string) {
	lead := len(base) - len(strings.TrimLeft(base, "."))
	i := strings.LastIndexByte(base[lead:], '.')
	if i < 0 {
		return base, ""
	}
	i += lead
	return base[:i], base[i:]
}

// cutEnd drops at least n bytes from the end of s without splitting a
// UTF-8 sequence.
func cutEnd(s string, n int) string {
	if n >= len(s) {
		return ""
	}
	end := len(s) - n
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end]
}

// FreeName returns the first Name(path, n), n = 1, 2, ..., for which exists
// reports false, so an earlier conflict copy is never overwritten. It gives
// up after MaxAttempts candidates.
func FreeName(path string, exists func(string) (bool, error)) (string, error) {
	for n := 1; n <= MaxAttempts; n++ {
		name := Name(path, n)
		taken, err := exists(name)
		if err != nil {
			return "", fmt.Errorf("unable to check whether conflict copy %q exists: %w", name, err)
		}
		if !taken {
			return name, nil
		}
	}
	return "", fmt.Errorf("unable to name a conflict copy of %q: %d candidates are all taken; resolve or remove old conflict copies", path, MaxAttempts)
}
