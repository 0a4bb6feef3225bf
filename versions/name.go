package versions

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
)

// Dir is the store's directory, at the top of the folder. It is never
// scanned, watched, listed or synced.
const Dir = ".ferry-versions"

// IsStorePath reports whether a slash-separated path relative to the
// folder is a store or inside one. Any element named Dir counts, at any
// depth: a server may serve a folder and, to another agent, a subfolder
// of it, each with its own store, and neither store may reach a peer
// through the other. The comparison ignores case, since on a
// case-insensitive filesystem any spelling reaches the same directory.
func IsStorePath(rel string) bool {
	for el := range strings.SplitSeq(rel, "/") {
		if IsStoreName(el) {
			return true
		}
	}
	return false
}

// IsStoreName reports whether a base name is a store's directory.
func IsStoreName(name string) bool { return strings.EqualFold(name, Dir) }

// Reason says why a version was kept.
type Reason string

// The reasons a file is kept.
const (
	// Replaced: the peer's copy replaced it in a pass.
	Replaced Reason = "replaced"
	// Deleted: the peer deleted it and a pass deleted it here.
	Deleted Reason = "deleted"
	// Conflict: it lost a conflict.
	Conflict Reason = "conflict"
	// Reset: ferry reset-sync replaced or deleted it.
	Reset Reason = "reset"
	// Resolve: ferry resolve replaced or deleted it.
	Resolve Reason = "resolve"
	// Restore: a restored version replaced it.
	Restore Reason = "restore"
)

var reasons = []Reason{Replaced, Deleted, Conflict, Reset, Resolve, Restore}

// Valid reports whether r is one of the reasons above.
func (r Reason) Valid() bool {
	for _, x := range reasons {
		if r == x {
			return true
		}
	}
	return false
}

// Describe is the reason for a person, as ferry versions shows it.
func (r Reason) Describe() string {
	switch r {
	case Replaced:
		return "replaced by the peer"
	case Deleted:
		return "deleted by the peer"
	case Conflict:
		return "lost a conflict"
	case Reset:
		return "replaced by reset-sync"
	case Resolve:
		return "replaced by resolve"
	case Restore:
		return "replaced by a restore"
	}
	return string(r)
}

// timeLayout is the time in a version's name: UTC, to the millisecond,
// sortable as text. A 'Z' follows it.
const (
	timeLayout = "20060102-150405.000"
	timeLen    = len(timeLayout) + 1
)

// ErrNotVersion is wrapped by ParseName for a name that is not a version.
var ErrNotVersion = errors.New("not a version name")

// ext is the part of a base name a version name keeps at its end so that
// the kept file still opens with the right program: the last dot and what
// follows it, but nothing for a name whose only dot leads (".bashrc").
func ext(base string) string {
	i := strings.LastIndexByte(base, '.')
	if i <= 0 {
		return ""
	}
	return base[i:]
}

// Name is the base name of the version of a file named base kept at t for
// reason r: stem~TIME~reason.ext.
func Name(base string, t time.Time, r Reason) string {
	e := ext(base)
	return base[:len(base)-len(e)] + "~" + t.UTC().Format(timeLayout) + "Z~" + string(r) + e
}

// ParseName is the inverse of Name.
//
// The name is unambiguous: of the places where ~TIME~reason appears, only
// the last can be followed by the original's extension, since an earlier
// one is followed by the later time, whose dot would make the extension
// start there.
func ParseName(name string) (base string, t time.Time, r Reason, err error) {
	for i := strings.LastIndexByte(name, '~'); i >= 0; i = strings.LastIndexByte(name[:i], '~') {
		// name[i] is the tilde after the time; the time starts timeLen+1 before it.
		start := i - timeLen
		if start < 1 || name[start-1] != '~' || name[i-1] != 'Z' {
			continue
		}
		ts, perr := time.ParseInLocation(timeLayout, name[start:i-1], time.UTC)
		if perr != nil {
			continue
		}
		rest := name[i+1:]
		for _, x := range reasons {
			if !strings.HasPrefix(rest, string(x)) {
				continue
			}
			e := rest[len(x):]
			orig := name[:start-1] + e
			if ext(orig) == e && orig != "" && Name(orig, ts, x) == name {
				return orig, ts, x, nil
			}
		}
	}
	return "", time.Time{}, "", fmt.Errorf("%w: %q", ErrNotVersion, name)
}

// storeName is the slash-separated path inside the folder of the version
// of p (a path relative to the folder) kept at t for r.
func storeName(p string, t time.Time, r Reason) string {
	dir, base := path.Split(p)
	return path.Join(Dir, dir, Name(base, t, r))
}
