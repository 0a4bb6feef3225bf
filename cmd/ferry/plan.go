package main

import (
	"fmt"
	"io"

	"github.com/ferry-sync/ferry/service/render"
	"github.com/ferry-sync/ferry/syncer"
)

// maxPlanLines bounds the paths a dry run lists; the totals count all.
const maxPlanLines = 1000

// printPlan shows what a pass would do: the totals per side, then one
// line per change, conflicts and unreadable paths.
func printPlan(w io.Writer, p *syncer.Plan) {
	c := p.Count()
	fmt.Fprintln(w, "dry run: nothing was changed")
	for _, s := range []struct {
		name string
		c    syncer.SideCounts
	}{{"to local", c.Local}, {"to remote", c.Remote}} {
		fmt.Fprintf(w, "%s: created %d, updated %d, deleted %d, renamed %d, copied %d, conflict copies %d; send %d files, %s\n",
			s.name, s.c.Created, s.c.Updated, s.c.Deleted, s.c.Renamed, s.c.Copied, s.c.ConflictCopies, s.c.Files, render.Size(s.c.Bytes))
	}
	fmt.Fprintf(w, "conflicts %d, problems %d\n", c.Conflicts, c.Problems)
	n := 0
	line := func(format string, args ...any) {
		if n < maxPlanLines {
			fmt.Fprintf(w, format, args...)
		}
		n++
	}
	for _, side := range []struct {
		name string
		ops  []syncer.Op
	}{{"local", p.Local}, {"remote", p.Remote}} {
		for _, op := range side.ops {
			path := render.Clean(op.Path)
			switch op.Kind {
			case syncer.OpTransfer:
				verb := "create"
				if op.Expect.Exists() {
					verb = "update"
				}
				line("  %-6s %-8s %s (%s)\n", side.name, verb, path, render.Size(op.Entry.Size))
			case syncer.OpMkdir:
				line("  %-6s %-8s %s/\n", side.name, "mkdir", path)
			case syncer.OpSymlink:
				line("  %-6s %-8s %s -> %s\n", side.name, "symlink", path, render.Clean(op.Entry.Target))
			case syncer.OpSetMeta:
				line("  %-6s %-8s %s (mode or mtime)\n", side.name, "update", path)
			case syncer.OpRemove:
				line("  %-6s %-8s %s\n", side.name, "delete", path)
			case syncer.OpRename:
				line("  %-6s %-8s %s from %s\n", side.name, "rename", path, render.Clean(op.Expect.Path))
			case syncer.OpCopy:
				line("  %-6s %-8s %s from %s\n", side.name, "copy", path, render.Clean(op.From.Path))
			case syncer.OpCopyAside:
				line("  %-6s %-8s %s (kept as a conflict copy)\n", side.name, "aside", path)
			}
		}
	}
	for _, cf := range p.Conflicts {
		line("  %-6s %-8s %s: %s\n", "both", "conflict", render.Clean(cf.Path), cf.Reason)
	}
	for _, pr := range p.Problems {
		line("  %-6s %-8s %s: %s\n", pr.Side, "problem", render.Clean(pr.Path), render.Clean(pr.Problem))
	}
	if n > maxPlanLines {
		fmt.Fprintf(w, "  … and %d more\n", n-maxPlanLines)
	}
}
