package render

import (
	"fmt"
	"strings"

	"github.com/ferry-sync/ferry/snapshot"
)

// Problems describes the paths pass r could not read, or could not write
// for a file in the way: a heading line, then one indented line per path
// the record names (side, path, reason), then how many more there were. It
// returns "" when the pass had none.
func Problems(r snapshot.PassRecord) string {
	if r.Problems <= 0 {
		return ""
	}
	var b strings.Builder
	what, causes := "read", "permissions, name, file type"
	if r.InTheWay > 0 {
		what, causes = "synced", "permissions, name, file type, a file in the way"
	}
	fmt.Fprintf(&b, "%d %s could not be %s and %s left alone on both sides:\n",
		r.Problems, plural(r.Problems, "path", "paths"), what, plural(r.Problems, "was", "were"))
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
	fmt.Fprintf(&b, "  every pass tries %s again; fix the cause (%s) or exclude %s\n", them, causes, them)
	return b.String()
}
