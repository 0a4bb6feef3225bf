package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/halt"
	"github.com/ferry-sync/ferry/service/logging"
	"github.com/ferry-sync/ferry/service/render"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
)

func newSyncCommand() *command {
	fs := pflag.NewFlagSet("sync", pflag.ContinueOnError)
	cfgPath := fs.String("config", "", "jobs file (default $FERRY_CONFIG or ~/.config/ferry/jobs.yaml)")
	allowDeletes := fs.Bool("allow-deletes", false, "let this pass delete more than max_delete")
	allowChanges := fs.Bool("allow-changes", false, "let this pass overwrite more files than max_change")
	acceptNew := fs.Bool("accept-new-host-key", false, "trust and record an unknown server host key (like OpenSSH accept-new)")
	level := fs.String("log-level", "warn", "debug | info | warn | error (log lines go to stderr)")
	dryRun := fs.Bool("dry-run", false, "scan and plan, print what a pass would do, change nothing")
	asJSON := fs.Bool("json", false, "print the result (or with --dry-run the plan) as one JSON document, see docs/json.md")
	return &command{
		name:    "sync",
		jobArg:  true,
		summary: "run one sync pass of a job and print a summary",
		usage:   "--config FILE [--dry-run] [--json] [--allow-deletes] [--allow-changes] [--accept-new-host-key] [--log-level LEVEL] JOB",
		flags:   fs,
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usageError{"give exactly one JOB"}
			}
			lvl, err := logging.ParseLevel(*level)
			if err != nil {
				return usageError{err.Error()}
			}
			cfg, job, err := loadJob(*cfgPath, args[0])
			if err != nil {
				return err
			}
			db, err := snapshot.Open(cfg.DBPath(job.Name))
			if errors.Is(err, snapshot.ErrInUse) && runningAgent(ctx, cfg) != nil {
				flags := "--wait"
				if *allowChanges {
					flags = "--allow-changes " + flags
				}
				if *allowDeletes {
					flags = "--allow-deletes " + flags
				}
				return fmt.Errorf("job %s is held by the running agent (ferry run); ask it for a pass and wait for it with: ferry sync-now %s --config %s %s",
					job.Name, flags, halt.Quote(cfg.File), job.Name)
			}
			if err != nil {
				return err
			}
			defer db.Close()
			warnings := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: lvl}))
			limits, stopSchedule, err := followSchedule(ctx, e, job)
			if err != nil {
				return err
			}
			defer stopSchedule()
			o, err := openJob(ctx, cfg, job, db, remoteOptions{acceptNewHostKey: *acceptNew, log: warnings, lazy: true, limits: limits})
			if err != nil {
				return err
			}
			defer o.Close()
			opts := o.options(cfg.File, job, db)
			if *dryRun {
				opts.Log = warnings
				opts.AllowDeletes, opts.AllowChanges = *allowDeletes, *allowChanges
				plan, err := syncer.Preview(ctx, opts)
				if *asJSON {
					return errors.Join(err, writeJSON(e.stdout, dryRunDoc(job.Name, &plan, err)))
				}
				if err != nil {
					return err
				}
				printPlan(e.stdout, &plan)
				return nil
			}
			opts.Log = warnings
			opts.AllowDeletes, opts.AllowChanges = *allowDeletes, *allowChanges
			if *asJSON {
				rec, err := syncer.Pass(ctx, opts)
				if err == nil {
					err = undone(rec)
				}
				doc := syncDoc{SchemaVersion: schemaVersion, Job: job.Name, Pass: &rec, Transport: newTransportDoc(o.remote)}
				var h *syncer.HaltError
				switch {
				case errors.As(err, &h):
					doc.Halt = newHaltDoc(&h.Halt)
				case err != nil && !errors.Is(err, context.Canceled): // pass.interrupted says it
					doc.Error = err.Error()
				}
				return errors.Join(err, writeJSON(e.stdout, doc))
			}
			p := newProgressPrinter(e.stdout, e.isTTY)
			opts.Observer = p.observe
			rec, err := syncer.Pass(ctx, opts)
			p.finish()
			if err != nil && !errors.Is(err, syncer.ErrHalted) && !errors.Is(err, syncer.ErrIncomplete) {
				return err
			}
			if rec.Halted == "" {
				fmt.Fprintln(e.stdout, summary(rec))
				fmt.Fprint(e.stdout, render.Problems(rec))
			}
			if rec.Recovered != nil {
				fmt.Fprint(e.stdout, "warning: "+render.Recovered(*rec.Recovered))
			}
			for _, d := range rec.DiskSpaceLow {
				fmt.Fprint(e.stdout, "warning: "+render.DiskSpaceLow(d))
			}
			if s := transportSummary(o.remote); s != "" {
				fmt.Fprintln(e.stdout, s)
			}
			if s := serverSummary(o.remote); s != "" {
				fmt.Fprintln(e.stdout, s)
			}
			if err == nil {
				err = undone(rec)
			}
			return err
		},
	}
}

// dryRunDoc is `ferry sync --dry-run --json`: the plan, or the halt that
// stopped it.
func dryRunDoc(job string, plan *syncer.Plan, err error) syncDoc {
	doc := syncDoc{SchemaVersion: schemaVersion, Job: job, DryRun: true}
	var h *syncer.HaltError
	switch {
	case errors.As(err, &h):
		doc.Halt = newHaltDoc(&h.Halt)
	case err != nil:
		doc.Error = err.Error()
	default:
		doc.Plan = newPlanDoc(plan)
	}
	return doc
}

// summary is the one line a pass ends with.
func summary(r snapshot.PassRecord) string {
	if r.Halted != "" {
		return "halted: " + r.Halted
	}
	d := r.End.Sub(r.Start).Round(time.Millisecond)
	// Renames and local copies are named only when a pass made some, and
	// what was in sync told apart from what was sent only when they
	// differ (renames, copies, block deltas), so the line of a pass that
	// sent whole files reads as it always has.
	moved := ""
	if r.Renamed > 0 || r.Copied > 0 {
		moved = fmt.Sprintf("renamed %d, copied %d, ", r.Renamed, r.Copied)
	}
	s := fmt.Sprintf("created %d, updated %d, %sdeleted %d, conflicts %d, bytes %d (%s) in %s",
		r.Created, r.Updated, moved, r.Deleted, r.Conflicts, r.Bytes, render.Size(r.Bytes), d)
	if moved != "" || r.InSync != r.Bytes {
		s += fmt.Sprintf(", %s in sync, %s sent", render.Size(r.InSync), render.Size(r.Bytes))
	}
	if r.Problems > 0 {
		s += fmt.Sprintf(", problems %d", r.Problems)
	}
	if r.Skipped > 0 {
		s += fmt.Sprintf(", skipped %d (changed during the pass; the next pass picks them up)", r.Skipped)
	}
	return s
}

// undone fails a pass that left planned paths undone, so that `ferry
// sync` exits 1 and a script does not take the folders for synced. The
// summary and the problem list above say which paths and why.
func undone(r snapshot.PassRecord) error {
	var parts []string
	if r.InTheWay > 0 {
		parts = append(parts, fmt.Sprintf("%d blocked by a file ferry did not create (listed above; move or delete it)", r.InTheWay))
	}
	if r.Skipped > 0 {
		parts = append(parts, fmt.Sprintf("%d changed during the pass (run it again)", r.Skipped))
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", errUndone, strings.Join(parts, ", "))
}

// errUndone is the error of a pass that finished with planned paths left
// undone.
var errUndone = errors.New("the pass left planned paths undone")

// progressPrinter shows a pass: on a terminal one line redrawn in place,
// of bytes sent with rate and ETA like rclone --progress; otherwise plain
// log lines: the phase changes, each failed, renamed or copied file, and
// another finished file at most every plainEvery (and the pass's last
// one), with how many of the pass's files are done.
type progressPrinter struct {
	w     io.Writer
	tty   bool
	now   func() time.Time
	mu    sync.Mutex
	last  time.Time
	phase syncer.Phase
	meter agent.Meter
	drawn bool
	// logged is when the plain log last showed a finished file.
	logged time.Time
}

// plainEvery is how often at most the plain log shows a finished file:
// a line per file was 1.3 s of a 100,000-file first sync, and a log
// needs no more than the pace.
const plainEvery = time.Second

// drawEvery is how often at most the terminal line is redrawn.
const drawEvery = 100 * time.Millisecond

func newProgressPrinter(w io.Writer, tty bool) *progressPrinter {
	return &progressPrinter{w: w, tty: tty, now: time.Now}
}

func (p *progressPrinter) observe(ev syncer.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p.meter.Observe(ev, now)
	if ev.Phase != p.phase {
		p.phase = ev.Phase
		if !p.tty {
			fmt.Fprintf(p.w, "%s %s\n", now.Format(time.TimeOnly), ev.Phase)
		}
	}
	if !p.tty {
		// A failure, a rename or a copy says more than the summary
		// does, so each is shown; a plain transfer only now and then.
		last := ev.FilesTotal > 0 && ev.FilesDone >= ev.FilesTotal
		notable := ev.Err != nil || ev.Op == syncer.OpRename || ev.Op == syncer.OpCopy
		if ev.FileDone && (notable || last || p.logged.IsZero() || now.Sub(p.logged) >= plainEvery) {
			if !notable {
				p.logged = now
			}
			status := "ok"
			switch {
			case ev.Err != nil:
				status = ev.Err.Error()
			case ev.Op == syncer.OpRename:
				status = "renamed from " + ev.From
			case ev.Op == syncer.OpCopy:
				status = "copied from " + ev.From
			}
			files := fmt.Sprintf("%d/%d", ev.FilesDone, ev.FilesTotal)
			if ev.SoFar {
				files += "+"
			}
			fmt.Fprintf(p.w, "%s %s: %s (%s files)\n", now.Format(time.TimeOnly), render.Clean(ev.Path), render.Clean(status), files)
		}
		return
	}
	// A redraw at most every drawEvery, and for the pass's last file: a
	// redraw for each finished file was a quarter of the CPU of a first
	// sync of many small files on a terminal. finish draws the end.
	last := ev.FileDone && ev.FilesTotal > 0 && ev.FilesDone >= ev.FilesTotal && !ev.SoFar
	if now.Sub(p.last) < drawEvery && !last {
		return
	}
	p.last = now
	p.draw(now)
}

// draw redraws the terminal line: carriage return, the line, and an erase
// to its end, so a shorter line leaves nothing of a longer one.
func (p *progressPrinter) draw(now time.Time) {
	pr, _ := p.meter.Snapshot(now)
	fmt.Fprint(p.w, "\r"+progressLine(p.phase, pr)+"\x1b[K")
	p.drawn = true
}

// progressLine is the terminal progress of a pass: what it has sent of
// what it has to send, the rate, the time left and the files.
func progressLine(phase syncer.Phase, pr agent.Progress) string {
	if phase == syncer.PhaseScanning && pr.FilesTotal == 0 {
		return "scanning…"
	}
	pct := 100
	if pr.BytesTotal > 0 {
		pct = int(min(max(float64(pr.BytesDone)/float64(pr.BytesTotal), 0), 1) * 100)
	}
	s := fmt.Sprintf("%s %s / %s  %3d%%  %s", render.ProgressBar(pr.BytesDone, pr.BytesTotal, 20),
		render.Size(pr.BytesDone), render.Size(pr.BytesTotal), pct, render.Rate(pr.Rate))
	if pr.ETA > 0 {
		s += "  ETA " + render.Duration(pr.ETA)
	} else {
		s += "  ETA -"
	}
	s += "  files " + render.Files(pr)
	if pr.BytesReused > 0 {
		s += "  (" + render.Size(pr.BytesReused) + " already there)"
	}
	return s
}

func (p *progressPrinter) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		p.draw(p.now())
		fmt.Fprintln(p.w)
	}
}
