package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/conflict"
	"github.com/ferry-sync/ferry/halt"
	"github.com/ferry-sync/ferry/service/api"
	"github.com/ferry-sync/ferry/service/render"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
)

// runningAgent returns a client for the agent serving cfg's state dir, or
// nil when none answers on its socket.
func runningAgent(ctx context.Context, cfg *config.Config) *api.Client {
	sock := cfg.SocketPath()
	if _, err := os.Stat(sock); err != nil {
		return nil
	}
	c := api.NewClient(sock, "")
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := c.Jobs(ctx); err != nil {
		return nil
	}
	return c
}

// withDB opens a job's snapshot database for an offline command.
func withDB(cfg *config.Config, job string, fn func(db *snapshot.DB) error) error {
	db, err := snapshot.Open(cfg.DBPath(job))
	if err != nil {
		if errors.Is(err, snapshot.ErrInUse) {
			return fmt.Errorf("%w; an agent may be starting or another ferry command is running: try again in a moment", err)
		}
		return err
	}
	return errors.Join(fn(db), db.Close())
}

func newResetSyncCommand() *command {
	fs := pflag.NewFlagSet("reset-sync", pflag.ContinueOnError)
	cfgPath := fs.String("config", "", "jobs file (default $FERRY_CONFIG or ~/.config/ferry/jobs.yaml)")
	return &command{
		name:    "reset-sync",
		jobArg:  true,
		summary: "clear a job's sync records (keeps the config); the next pass rescans both sides and deletes nothing",
		usage:   "--config FILE JOB",
		flags:   fs,
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usageError{"give exactly one JOB"}
			}
			cfg, job, err := loadJob(*cfgPath, args[0])
			if err != nil {
				return err
			}
			if c := runningAgent(ctx, cfg); c != nil {
				if _, err := c.ResetSync(ctx, job.Name); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s: sync records cleared; the running agent is rescanning both sides now\n", job.Name)
				return nil
			}
			if err := withDB(cfg, job.Name, func(db *snapshot.DB) error { return db.Reset() }); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: sync records cleared; the next pass rescans both sides: equal files are recorded, differences kept, nothing deleted\n", job.Name)
			return nil
		},
	}
}

func newConflictsCommand() *command {
	fs := pflag.NewFlagSet("conflicts", pflag.ContinueOnError)
	cfgPath := fs.String("config", "", "jobs file (default $FERRY_CONFIG or ~/.config/ferry/jobs.yaml)")
	asJSON := fs.Bool("json", false, "print the conflicts as one JSON document, see docs/json.md")
	return &command{
		name:    "conflicts",
		jobArg:  true,
		summary: "list a job's unresolved conflicts",
		usage:   "--config FILE [--json] JOB",
		flags:   fs,
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usageError{"give exactly one JOB"}
			}
			cfg, job, err := loadJob(*cfgPath, args[0])
			if err != nil {
				return err
			}
			var recs []conflict.Record
			if c := runningAgent(ctx, cfg); c != nil {
				recs, err = c.Conflicts(ctx, job.Name)
			} else {
				err = withDB(cfg, job.Name, func(db *snapshot.DB) error {
					recs, err = db.Conflicts()
					return err
				})
			}
			if err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(e.stdout, conflictsDoc{SchemaVersion: schemaVersion, Job: job.Name, Conflicts: api.NewConflicts(recs)})
			}
			printConflicts(e, recs)
			if len(recs) > 0 {
				fmt.Fprintf(e.stdout, "\nresolve with: ferry resolve --config %s %s PATH...\n", *cfgPath, job.Name)
			}
			return nil
		},
	}
}

func printConflicts(e *env, recs []conflict.Record) {
	if len(recs) == 0 {
		fmt.Fprintln(e.stdout, "no unresolved conflicts")
		return
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tREASON\tLOCAL\tREMOTE\tCOPY")
	side := func(s conflict.Side) string {
		if s.Kind == "" || s.Kind == "absent" {
			return "absent"
		}
		return fmt.Sprintf("%s %s %s", s.Kind, render.Size(s.Size), time.Unix(0, s.Mtime).Format(time.DateTime))
	}
	for _, r := range recs {
		reason := string(r.Reason)
		if names := r.Names(); len(names) > 0 {
			// Every colliding name, so the user sees what to rename.
			for i, n := range names {
				names[i] = render.Clean(n)
			}
			reason += ": " + strings.Join(names, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", render.Clean(r.Path), reason, side(r.Local), side(r.Remote), render.Clean(r.Copy))
	}
	tw.Flush()
}

func newResolveCommand() *command {
	fs := pflag.NewFlagSet("resolve", pflag.ContinueOnError)
	cfgPath := fs.String("config", "", "jobs file (default $FERRY_CONFIG or ~/.config/ferry/jobs.yaml)")
	acceptNew := fs.Bool("accept-new-host-key", false, "trust and record an unknown server host key")
	return &command{
		name:    "resolve",
		jobArg:  true,
		summary: "resolve conflicts: keep the local copy as NAME.conflict-mine.EXT and take the other side's version",
		usage:   "--config FILE JOB PATH...",
		flags:   fs,
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) < 2 {
				return usageError{"give a JOB and at least one PATH"}
			}
			cfg, job, err := loadJob(*cfgPath, args[0])
			if err != nil {
				return err
			}
			paths := args[1:]
			if c := runningAgent(ctx, cfg); c != nil {
				if _, err := c.Resolve(ctx, job.Name, paths); err != nil {
					return err
				}
			} else {
				err := withDB(cfg, job.Name, func(db *snapshot.DB) error {
					o, err := openJob(ctx, cfg, job, db, remoteOptions{acceptNewHostKey: *acceptNew})
					if err != nil {
						return err
					}
					defer o.Close()
					return syncer.Resolve(ctx, o.options(cfg.File, job, db), paths)
				})
				if err != nil {
					return err
				}
			}
			fmt.Fprintf(e.stdout, "%s: resolved %d path(s)\n", job.Name, len(paths))
			return nil
		},
	}
}

func newStatusCommand() *command {
	fs := pflag.NewFlagSet("status", pflag.ContinueOnError)
	cfgPath := fs.String("config", "", "jobs file (default $FERRY_CONFIG or ~/.config/ferry/jobs.yaml)")
	asJSON := fs.Bool("json", false, "print the jobs as one JSON document, see docs/json.md")
	return &command{
		name:    "status",
		jobArg:  true,
		summary: "show each job: state, progress, next pass, last result, halt reason and fix, conflicts",
		usage:   "--config FILE [--json] [JOB]",
		flags:   fs,
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) > 1 {
				return usageError{"give at most one JOB"}
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			cfg, _, err := loadJob(*cfgPath, name)
			if err != nil {
				return err
			}
			var jobs []agent.JobStatus
			c := runningAgent(ctx, cfg)
			if c != nil {
				if jobs, err = c.Jobs(ctx); err != nil {
					return err
				}
			} else {
				if !*asJSON {
					fmt.Fprintf(e.stdout, "no agent is running for %s; showing the last recorded passes\n\n", cfg.StateDir)
				}
				if jobs, err = offlineStatus(cfg); err != nil {
					return err
				}
			}
			if name != "" {
				jobs = filterJobs(jobs, name)
			}
			if *asJSON {
				if jobs == nil {
					jobs = []agent.JobStatus{}
				}
				doc := statusDoc{SchemaVersion: schemaVersion, AgentRunning: c != nil, Jobs: jobs}
				return errors.Join(writeJSON(e.stdout, doc), needsAttention(jobs))
			}
			if err := render.Status(e.stdout, jobs, time.Now(), e.isTTY); err != nil {
				return err
			}
			return needsAttention(jobs)
		},
	}
}

func filterJobs(jobs []agent.JobStatus, name string) []agent.JobStatus {
	var out []agent.JobStatus
	for _, j := range jobs {
		if j.Name == name {
			out = append(out, j)
		}
	}
	return out
}

// offlineStatus reads each job's last pass and conflicts from the state dir.
func offlineStatus(cfg *config.Config) ([]agent.JobStatus, error) {
	out := make([]agent.JobStatus, 0, len(cfg.Jobs))
	for _, j := range cfg.Jobs {
		st := agent.JobStatus{
			Name: j.Name, Local: j.Local, Remote: j.Remote, Direction: j.Direction, Mode: j.Mode,
			Config: cfg.File, State: agent.Idle, Bandwidth: j.Bandwidth, Sessions: max(j.Sessions, 1),
		}
		// A folder not there (unmounted) has no store to measure.
		st.VersionsBytes, _ = agent.VersionsBytes(j)
		if _, err := os.Stat(cfg.DBPath(j.Name)); err == nil {
			err := withDB(cfg, j.Name, func(db *snapshot.DB) error {
				rec, ok, err := db.LastPass()
				if err != nil {
					return err
				}
				if ok {
					st.Last = &rec
					if rec.Halt != nil {
						st.State = agent.Halted
						st.SetHalt(rec.Halt)
					} else if rec.Halted != "" {
						st.State, st.Halted = agent.Halted, rec.Halted
					}
				}
				recs, err := db.Conflicts()
				st.Conflicts = len(recs)
				return err
			})
			if err != nil {
				return nil, err
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// newControlCommand builds stop, resume and sync-now, which steer a running
// agent through its control socket.
func newControlCommand(name, summary string) *command {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	cfgPath := fs.String("config", "", "jobs file (default $FERRY_CONFIG or ~/.config/ferry/jobs.yaml)")
	usage := "--config FILE JOB"
	var wait, allowDeletes, allowChanges *bool
	if name == "sync-now" {
		wait = fs.Bool("wait", false, "wait for the pass, print its summary and exit as `ferry sync` would")
		allowDeletes = fs.Bool("allow-deletes", false, "let this one pass delete more than max_delete (or what a root emptied asks); later passes are guarded again")
		allowChanges = fs.Bool("allow-changes", false, "let this one pass overwrite more files than max_change; later passes are guarded again")
		usage = "--config FILE [--wait] [--allow-deletes] [--allow-changes] JOB"
	}
	return &command{
		name:    name,
		jobArg:  true,
		summary: summary,
		usage:   usage,
		flags:   fs,
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usageError{"give exactly one JOB"}
			}
			cfg, job, err := loadJob(*cfgPath, args[0])
			if err != nil {
				return err
			}
			c := runningAgent(ctx, cfg)
			if c == nil {
				return fmt.Errorf("no agent is running for %s; start one with: ferry run --config %s", cfg.StateDir, halt.Quote(cfg.File))
			}
			var st agent.JobStatus
			switch name {
			case "stop":
				st, err = c.Stop(ctx, job.Name)
			case "resume":
				st, err = c.Resume(ctx, job.Name)
			default:
				req := api.SyncNowRequest{AllowDeletes: allowDeletes != nil && *allowDeletes, AllowChanges: allowChanges != nil && *allowChanges}
				if wait != nil && *wait {
					return syncNowWait(ctx, e, c, job.Name, req)
				}
				st, err = c.SyncNowWith(ctx, job.Name, req)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: %s\n", st.Name, st.State)
			return nil
		},
	}
}

func newMonitorCommand() *command {
	fs := pflag.NewFlagSet("monitor", pflag.ContinueOnError)
	cfgPath := fs.String("config", "", "jobs file (default $FERRY_CONFIG or ~/.config/ferry/jobs.yaml)")
	every := fs.Duration("every", time.Second, "refresh interval")
	count := fs.Int("count", 0, "stop after this many refreshes (0: until interrupted)")
	return &command{
		name:    "monitor",
		jobArg:  true,
		summary: "live view of transfers: rate sparkline, target and minimum rate, policy, retransmits, ETA",
		usage:   "--config FILE [JOB]",
		flags:   fs,
		run: func(ctx context.Context, e *env, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			cfg, _, err := loadJob(*cfgPath, name)
			if err != nil {
				return err
			}
			c := runningAgent(ctx, cfg)
			if c == nil {
				return fmt.Errorf("no agent is running for %s; start one with: ferry run --config %s", cfg.StateDir, halt.Quote(cfg.File))
			}
			h := render.NewHistory(60)
			t := time.NewTicker(*every)
			defer t.Stop()
			for i := 0; *count == 0 || i < *count; i++ {
				jobs, err := c.Jobs(ctx)
				if err != nil {
					return err
				}
				if name != "" {
					jobs = filterJobs(jobs, name)
				}
				h.Add(jobs)
				if e.isTTY {
					fmt.Fprint(e.stdout, "\x1b[H\x1b[2J")
				}
				if err := render.Monitor(e.stdout, jobs, h, time.Now()); err != nil {
					return err
				}
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
				}
			}
			return nil
		},
	}
}
