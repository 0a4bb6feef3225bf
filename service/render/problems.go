package render

import (
	"fmt"
	"strings"

	"github.com/ferry-sync/ferry/snapshot"
)

// Problems describes the paths pass r could not read: a heading line, then
// one indented line per path the record names (side, path, reason), then
// how many more there were. It returns "" when the pass had none.
func Problems(r snapshot.PassRecord) string {
	if r.Problems <= 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s could not be read and %s left alone on both sides:\n",
		r.Problems, plural(r.Problems, "path", "paths"), plural(r.Problems, "was", "were"))
	for _, p := range r.ProblemPaths {
		fmt.Fprintf(&b, "  %s %s: %s\n", Clean(p.Side), Clean(p.Path), Clean(p.Problem))
	}
	switch more := r.Problems - len(r.ProblemPaths); {
	case more > 0 && len(r.ProblemPaths) == 0:
		b.WriteString("  (this record does not name them; the log does)\n")
	case more > 0:
		fmt.Fprintf(&b, "  and %d more (the log names them all)\n", more)
	}
	them := plural(r.Problems, "it", "them")
	fmt.Fprintf(&b, "  every pass tries %s again; fix the cause (permissions, name, file type) or exclude %s\n", them, them)
	return b.String()
}
