package restore

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/versions"
)

// ErrNoVersion is wrapped by Pick when nothing matches.
var ErrNoVersion = errors.New("no version to restore")

// ErrVersionNumber is wrapped by Pick when a version number is given for
// more than one file.
var ErrVersionNumber = errors.New("a version number picks one file's version")

// Numbered is a version with its number among its file's versions on one
// side: 1 is the newest.
type Numbered struct {
	versions.Version
	N int
}

// Number numbers vs (ordered by path then time, as ListVersions returns
// them) per file, the newest 1, and returns them newest first per file.
func Number(vs []versions.Version) []Numbered {
	out := make([]Numbered, 0, len(vs))
	for i := 0; i < len(vs); {
		j := i
		for j < len(vs) && vs[j].Path == vs[i].Path {
			j++
		}
		for k := j - 1; k >= i; k-- {
			out = append(out, Numbered{Version: vs[k], N: j - k})
		}
		i = j
	}
	return out
}

// Pick chooses what a restore of path puts back from vs, the versions
// listed for path (ListVersions(path), ordered by path then time):
//   - with n > 0, the nth newest version of the file path (Number's N);
//   - with at set, for each file at or below path, its content as of at:
//     the first version kept after at that was written by then (its
//     ModTime not after at). A file with none is left alone: it is as it
//     was then, or what it held then was never kept (an edit made and
//     overwritten on the same side, which ferry did not replace);
//   - with neither, the newest version of each file.
//
// It returns them ordered by path, or an error wrapping ErrNoVersion.
func Pick(vs []versions.Version, path string, at time.Time, n int) ([]versions.Version, error) {
	path = strings.Trim(path, "/")
	in := func(p string) bool { return path == "" || p == path || strings.HasPrefix(p, path+"/") }
	var out []versions.Version
	if n > 0 {
		var mine []versions.Version
		for _, v := range vs {
			if v.Path == path {
				mine = append(mine, v)
			}
		}
		if len(mine) == 0 {
			for _, v := range vs {
				if in(v.Path) {
					return nil, fmt.Errorf("%w: %q is a folder; give --at TIME to restore the files in it as of then", ErrVersionNumber, path)
				}
			}
			return nil, fmt.Errorf("%w: %q has no kept versions", ErrNoVersion, path)
		}
		if n > len(mine) {
			return nil, fmt.Errorf("%w: %q has %d kept versions, not %d", ErrNoVersion, path, len(mine), n)
		}
		return []versions.Version{mine[len(mine)-n]}, nil
	}
	for i := 0; i < len(vs); {
		j := i
		for j < len(vs) && vs[j].Path == vs[i].Path {
			j++
		}
		file := vs[i:j]
		i = j
		if !in(file[0].Path) {
			continue
		}
		if at.IsZero() {
			out = append(out, file[len(file)-1])
			continue
		}
		if k := slices.IndexFunc(file, func(v versions.Version) bool { return v.Time.After(at) && !v.ModTime.After(at) }); k >= 0 {
			out = append(out, file[k])
		}
	}
	if len(out) == 0 {
		if at.IsZero() {
			return nil, fmt.Errorf("%w: nothing at or below %q has kept versions", ErrNoVersion, path)
		}
		return nil, fmt.Errorf("%w: nothing at or below %q was replaced or deleted after %s", ErrNoVersion, path, at.Format(time.RFC3339))
	}
	return out, nil
}
