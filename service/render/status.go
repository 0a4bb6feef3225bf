package render

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/halt"
	"github.com/ferry-sync/ferry/snapshot"
)

const barWidth = 20

// Status writes the `ferry status` table for jobs as of now, then one
// paragraph per job that needs the owner: why it halted and the command that
// fixes it, or how many conflicts wait. tty chooses block-character bars;
// otherwise bars are plain ASCII.
func Status(w io.Writer, jobs []agent.JobStatus, now time.Time, tty bool) error {
	if len(jobs) == 0 {
		_, err := fmt.Fprintln(w, "no jobs configured")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSTATE\tPROGRESS\tNEXT SYNC\tLAST PASS\tCONFLICTS\tVERSIONS")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", Clean(j.Name), StateText(j), progress(j, tty), next(j, now), last(j, now), j.Conflicts, Size(j.VersionsBytes))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var notes strings.Builder
	for _, j := range jobs {
		name := Clean(j.Name)
		switch {
		case j.State == agent.Halted || j.Halted != "":
			why := j.Halted
			if why == "" {
				why = "no reason was recorded"
			}
			notes.WriteString("\n" + HaltNote(j.Name, why, j.Fix))
		case j.State == agent.Stopped:
			fmt.Fprintf(&notes, "\n%s is stopped; start it again with: %s\n", name, command("resume", j))
		}
		if u := j.Unwatched; u != nil {
			notes.WriteString("\n" + UnwatchedNote(j.Name, *u))
		}
		if j.Last != nil && j.Last.Recovered != nil {
			fmt.Fprintf(&notes, "\n%s: %s", name, Recovered(*j.Last.Recovered))
		}
		if j.Last != nil {
			for _, d := range j.Last.DiskSpaceLow {
				fmt.Fprintf(&notes, "\n%s: %s", name, DiskSpaceLow(d))
			}
		}
		if j.Conflicts > 0 {
			fmt.Fprintf(&notes, "\n%s has %d unresolved %s; list them with: %s\n",
				name, j.Conflicts, plural(j.Conflicts, "conflict", "conflicts"), command("conflicts", j))
		}
		if j.Last != nil && j.Last.Halted == "" {
			if p := Problems(*j.Last); p != "" {
				fmt.Fprintf(&notes, "\n%s: in the last pass %s", name, p)
			}
		}
		if j.Last != nil && j.Last.Err != "" && j.State != agent.Halted {
			fmt.Fprintf(&notes, "\n%s: the last pass failed: %s\n", name, Clean(j.Last.Err))
		}
	}
	_, err := io.WriteString(w, notes.String())
	return err
}

// UnwatchedNote says that a continuous job cannot watch some directories,
// how their changes are synced meanwhile, and the fix, as its own line.
func UnwatchedNote(job string, u agent.Unwatched) string {
	why := "the inotify watch limit is reached"
	if !u.Limit {
		why = Clean(u.Dir) + ": " + Clean(u.Err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d %s cannot be watched (%s), so changes below them are synced by a pass every %s rather than at once\n",
		Clean(job), u.Dirs, plural(u.Dirs, "directory", "directories"), why, Duration(u.Every))
	if u.Fix != "" {
		fmt.Fprintf(&b, "  - %s\n", Clean(u.Fix))
	}
	return b.String()
}

// Recovered says that a pass found its snapshot damaged, what became of
// the file, and what that meant for the pass.
func Recovered(r snapshot.Recovery) string {
	return fmt.Sprintf("the snapshot was damaged (%s), so the last pass had no trustworthy record of the last sync: "+
		"it deleted nothing, and files that differ on the two sides became conflicts; "+
		"the damaged file was moved to %s and a fresh one written\n", Clean(r.Reason), Clean(r.MovedTo))
}

// DiskSpaceLow says that a pass left a side short of disk space, as its
// own line.
func DiskSpaceLow(d snapshot.DiskSpaceLow) string {
	pct := 0.0
	if d.Total > 0 {
		pct = 100 * float64(d.Left()) / float64(d.Total)
	}
	return fmt.Sprintf("low disk space on the %s side: the last pass needed %s of the %s free, leaving %s (%.1f%% of %s), under the %g%% of disk_space_warning; free some space there\n",
		Clean(d.Side), Size(int64(d.Needed)), Size(int64(d.Free)), Size(int64(d.Left())), pct, Size(int64(d.Total)), 100*d.Share)
}

// HaltNote is how every terminal front end shows a halt: the job, the
// reason, and each line of the fix (halt.Halt's Fix, unchanged) as a
// choice of its own.
func HaltNote(job, reason, fix string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s is halted: %s\n", Clean(job), Clean(reason))
	for _, l := range strings.Split(fix, "\n") {
		if l != "" {
			fmt.Fprintf(&b, "  - %s\n", Clean(l))
		}
	}
	return b.String()
}

// StateText is a job's state as every terminal front end words it: a job
// that waits for a transfer slot says how many transfers go first.
func StateText(j agent.JobStatus) string {
	if j.State == agent.Queued {
		return fmt.Sprintf("queued (%d ahead)", j.Ahead)
	}
	return string(j.State)
}

// Files is a pass's files done of its total, "12/20000+" while the total
// counts only what the pass planned so far (Progress.SoFar).
func Files(p agent.Progress) string {
	s := fmt.Sprintf("%d/%d", p.FilesDone, p.FilesTotal)
	if p.SoFar {
		s += "+"
	}
	return s
}

func progress(j agent.JobStatus, tty bool) string {
	p := j.Progress
	switch j.State {
	case agent.Scanning:
		if p.FilesTotal == 0 {
			return "scanning…"
		}
	case agent.Transferring:
	default:
		return "-"
	}
	done, total := p.BytesDone, p.BytesTotal
	if total <= 0 {
		done, total = int64(p.FilesDone), int64(p.FilesTotal)
	}
	bar := asciiBar(done, total, barWidth)
	if tty {
		bar = ProgressBar(done, total, barWidth)
	}
	pct := 0
	if total > 0 {
		pct = int(min(max(float64(done)/float64(total), 0), 1) * 100)
	}
	s := fmt.Sprintf("%s %3d%%  %s files  %s", bar, pct, Files(p), Rate(p.Rate))
	if p.ETA > 0 {
		s += "  ETA " + Duration(p.ETA)
	}
	if p.BytesReused > 0 {
		s += "  (" + Size(p.BytesReused) + " already there)"
	}
	if j.Sessions > 1 {
		s += fmt.Sprintf("  %d sessions", j.Sessions)
	}
	if j.Server != "" {
		s += "  on " + Clean(j.Server)
	}
	return s
}

func next(j agent.JobStatus, now time.Time) string {
	switch {
	case j.State == agent.Scanning || j.State == agent.Transferring || j.State == agent.Queued:
		return "syncing now"
	case j.State == agent.Stopped || j.State == agent.Halted:
		return "-"
	case j.NextPass.IsZero() && j.Mode == config.Continuous:
		return "on change"
	case j.NextPass.IsZero():
		// No agent runs (offline status) or none is scheduled yet.
		return "-"
	case !j.NextPass.After(now):
		return "due now"
	}
	return "next sync in " + Duration(j.NextPass.Sub(now))
}

func last(j agent.JobStatus, now time.Time) string {
	l := j.Last
	if l == nil {
		return "never"
	}
	ago := Duration(now.Sub(l.End)) + " ago"
	switch {
	case l.Halted != "":
		return "halted " + ago
	case l.Err != "":
		return "failed " + ago
	case l.Interrupted:
		return fmt.Sprintf("interrupted %s: +%d ~%d -%d", ago, l.Created, l.Updated, l.Deleted)
	}
	s := fmt.Sprintf("ok %s: +%d ~%d -%d", ago, l.Created, l.Updated, l.Deleted)
	if l.Renamed > 0 {
		s += fmt.Sprintf(", %d renamed", l.Renamed)
	}
	if l.Copied > 0 {
		s += fmt.Sprintf(", %d copied", l.Copied)
	}
	if l.InSync > 0 && l.InSync != l.Bytes {
		// Renames, copies and block deltas bring more in sync than they send.
		s += ", " + Size(l.InSync) + " in sync, " + Size(l.Bytes) + " sent"
	} else {
		s += ", " + Size(l.Bytes)
	}
	if l.Problems > 0 {
		s += fmt.Sprintf(", %d %s", l.Problems, plural(l.Problems, "problem", "problems"))
	}
	if l.Scoped > 0 {
		// A continuous job's pass over the paths that changed only.
		s += fmt.Sprintf(", scoped to %d changed %s", l.Scoped, plural(l.Scoped, "path", "paths"))
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// command is `ferry VERB --config FILE JOB` for j, without --config when
// the jobs file is not known.
func command(verb string, j agent.JobStatus) string {
	c := "ferry " + verb
	if j.Config != "" {
		c += " --config " + Clean(halt.Quote(j.Config))
	}
	return c + " " + shellWord(j.Name)
}

// shellWord quotes a job name for a command line the owner may paste.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(Clean(s), "'", `'\''`) + "'"
}
