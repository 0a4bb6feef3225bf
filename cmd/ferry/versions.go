package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/cryptfs"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/halt"
	"github.com/ferry-sync/ferry/localfs"
	"github.com/ferry-sync/ferry/restore"
	"github.com/ferry-sync/ferry/service/api"
	"github.com/ferry-sync/ferry/service/render"
	"github.com/ferry-sync/ferry/transport/remote"
	"github.com/ferry-sync/ferry/tree"
	"github.com/ferry-sync/ferry/versions"
)

// A ferry:// remote lists and restores the server's versions.
var _ restore.Side = (*remote.Endpoint)(nil)

// versionsDoc is `ferry versions --json`.
type versionsDoc struct {
	SchemaVersion int    `json:"schema_version"`
	Job           string `json:"job"`
	api.VersionList
}

// restoreDoc is `ferry restore --json`.
type restoreDoc struct {
	SchemaVersion int    `json:"schema_version"`
	Job           string `json:"job"`
	api.Restored
	Error string `json:"error,omitempty"`
}

func newVersionsCommand() *command {
	fs := pflag.NewFlagSet("versions", pflag.ContinueOnError)
	cfgPath := fs.String("config", "", "jobs file (default $FERRY_CONFIG or ~/.config/ferry/jobs.yaml)")
	side := fs.String("side", "", "local | remote (default: both)")
	asJSON := fs.Bool("json", false, "print the versions as one JSON document, see docs/json.md")
	acceptNew := fs.Bool("accept-new-host-key", false, "trust and record an unknown server host key")
	return &command{
		name:    "versions",
		jobArg:  true,
		summary: "list the kept versions of a file, or of every file under a folder, on both sides of a job",
		usage:   "--config FILE [--side local|remote] [--json] JOB [PATH]",
		flags:   fs,
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageError{"give a JOB and at most one PATH"}
			}
			if *side != "" && *side != api.SideLocal && *side != api.SideRemote {
				return usageError{fmt.Sprintf("--side %q is not local or remote", *side)}
			}
			cfg, job, err := loadJob(*cfgPath, args[0])
			if err != nil {
				return err
			}
			p := ""
			if len(args) == 2 {
				if p, err = jobPath(job, args[1]); err != nil {
					return usageError{err.Error()}
				}
			}
			list, err := listVersions(ctx, cfg, job, *side, p, remoteOptions{acceptNewHostKey: *acceptNew})
			if err != nil {
				return err
			}
			var failed error
			for _, se := range list.Errors {
				failed = errors.Join(failed, fmt.Errorf("the %s side: %s", se.Side, se.Error))
			}
			if *asJSON {
				return errors.Join(failed, writeJSON(e.stdout, versionsDoc{SchemaVersion: schemaVersion, Job: job.Name, VersionList: list}))
			}
			printVersions(e.stdout, list.Versions, p)
			if len(list.Versions) > 0 {
				fmt.Fprintf(e.stdout, "\nrestore with: ferry restore --config %s %s PATH [--version N | --at TIME] [--side local|remote]\n",
					halt.Quote(cfg.File), halt.Quote(job.Name))
			}
			return failed
		},
	}
}

func newRestoreCommand() *command {
	fs := pflag.NewFlagSet("restore", pflag.ContinueOnError)
	cfgPath := fs.String("config", "", "jobs file (default $FERRY_CONFIG or ~/.config/ferry/jobs.yaml)")
	at := fs.String("at", "", "put back what PATH (a file, or every file under a folder) held at this time: \"2026-12-07 14:05\", RFC 3339, or a duration ago (\"2h\")")
	number := fs.Int("version", 0, "put back this version of the file PATH, as `ferry versions` numbers them (1 is the newest)")
	side := fs.String("side", api.SideLocal, "local | remote: the side whose kept version is put back, on that side")
	asJSON := fs.Bool("json", false, "print what was restored as one JSON document, see docs/json.md")
	acceptNew := fs.Bool("accept-new-host-key", false, "trust and record an unknown server host key")
	return &command{
		name:   "restore",
		jobArg: true,
		summary: "put a kept version of a file (or of every file under a folder) back as an ordinary edit, which the next pass syncs; " +
			"the file it replaces is kept as a version first",
		usage: "--config FILE [--at TIME | --version N] [--side local|remote] [--json] JOB PATH",
		flags: fs,
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 2 {
				return usageError{"give a JOB and a PATH (a file or a folder; . for the whole job)"}
			}
			cfg, job, err := loadJob(*cfgPath, args[0])
			if err != nil {
				return err
			}
			req := api.RestoreRequest{Side: *side, Version: *number}
			if req.Path, err = jobPath(job, args[1]); err != nil {
				return usageError{err.Error()}
			}
			if *at != "" {
				if req.At, err = parseAt(*at, time.Now()); err != nil {
					return usageError{err.Error()}
				}
			}
			if err := req.Check(); err != nil {
				return usageError{strings.NewReplacer(`field "at"`, "--at", `field "version"`, "--version", `field "side"`, "--side",
					`"at" or "version"`, "--at or --version").Replace(err.Error())}
			}
			done, err := restoreVersions(ctx, cfg, job, req, remoteOptions{acceptNewHostKey: *acceptNew})
			if *asJSON {
				doc := restoreDoc{SchemaVersion: schemaVersion, Job: job.Name, Restored: done}
				if err != nil {
					doc.Error = err.Error()
				}
				return errors.Join(err, writeJSON(e.stdout, doc))
			}
			for _, v := range done.Restored {
				fmt.Fprintf(e.stdout, "restored %s on the %s side: version %d, kept %s (%s), %s\n",
					render.Clean(v.Path), v.Side, v.Number, v.Time.Local().Format(time.DateTime), render.Clean(v.Why), render.Size(v.Size))
			}
			if len(done.Restored) > 0 {
				fmt.Fprintf(e.stdout, "the next pass syncs it like any edit (a running agent does so by itself; otherwise: ferry sync --config %s %s)\n",
					halt.Quote(cfg.File), halt.Quote(job.Name))
			}
			return err
		},
	}
}

// jobPath makes a PATH argument relative to the job's folders: a path
// relative to them already, or an absolute path inside the local folder.
// "" and "." are the whole job.
func jobPath(job *config.Job, p string) (string, error) {
	if filepath.IsAbs(p) {
		rel, err := filepath.Rel(job.Local, p)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return "", fmt.Errorf("%s is not inside the job's local folder %s: give a path relative to the job's folders", p, job.Local)
		}
		p = rel
	}
	p = strings.Trim(path.Clean(filepath.ToSlash(p)), "/")
	if p == "." {
		return "", nil
	}
	if err := tree.ValidPath(p); err != nil {
		return "", fmt.Errorf("%q: %w", p, err)
	}
	if versions.IsStorePath(p) {
		return "", fmt.Errorf("%q is the version store itself: name the file or folder as it was synced", p)
	}
	return p, nil
}

// atLayouts are the local-time forms --at takes besides RFC 3339.
var atLayouts = []string{"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"}

// parseAt reads --at: RFC 3339, a local date and time as `ferry
// versions` shows them, or a duration that long before now.
func parseAt(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, l := range atLayouts {
		if t, err := time.ParseInLocation(l, s, time.Local); err == nil {
			return t, nil
		}
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "-")); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--at %q is not a time: give \"2006-01-02 15:04[:05]\" (local time), RFC 3339, or a duration ago such as 2h", s)
}

// openSide opens the version store of one side of job: a folder on this
// machine, or the server behind a ferry:// remote.
func openSide(ctx context.Context, cfg *config.Config, job *config.Job, side string, ro remoteOptions) (restore.Side, func() error, error) {
	dir := job.Local
	if side == api.SideRemote {
		if job.RemoteURL != nil {
			opts, err := remoteOptionsFor(cfg, job, ro)
			if err != nil {
				return nil, nil, err
			}
			ep, err := remote.Dial(ctx, opts)
			if err != nil {
				return nil, nil, err
			}
			if job.Encryption.Enabled {
				return encryptedSide(job, ep, ep, nil)
			}
			return ep, ep.Close, nil
		}
		dir = job.Remote
	}
	f, err := restore.OpenFolder(dir)
	if err != nil {
		return nil, nil, err
	}
	if side == api.SideRemote && job.Encryption.Enabled {
		// The key header is read through an endpoint on the folder.
		ep, err := localfs.New(dir, localfs.Options{})
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		return encryptedSide(job, ep, f, f.Close)
	}
	return f, f.Close, nil
}

// encryptedSide shows the version store side of an encrypted remote
// (reached through ep, whose key header it reads) in plaintext;
// closing it closes ep, then closeSide if any.
func encryptedSide(job *config.Job, ep endpoint.Endpoint, side restore.Side, closeSide func() error) (restore.Side, func() error, error) {
	done := func() error {
		if closeSide == nil {
			return nil
		}
		return closeSide()
	}
	pass, err := job.Encryption.Passphrase()
	if err != nil {
		ep.Close()
		done()
		return nil, nil, fmt.Errorf("job %s: %w", job.Name, err)
	}
	f, err := cryptfs.New(ep, cryptfs.Options{Passphrase: pass, PlainNames: job.Encryption.Names == config.NamesPlain})
	if err != nil {
		ep.Close()
		done()
		return nil, nil, err
	}
	return f.Versions(side), func() error { return errors.Join(f.Close(), done()) }, nil
}

// listVersions lists the versions of p on side ("" both). A side that
// cannot be listed is named in the list's Errors.
func listVersions(ctx context.Context, cfg *config.Config, job *config.Job, side, p string, ro remoteOptions) (api.VersionList, error) {
	out := api.VersionList{Versions: []api.Version{}}
	for _, s := range []string{api.SideLocal, api.SideRemote} {
		if side != "" && side != s {
			continue
		}
		vs, err := func() ([]versions.Version, error) {
			sd, closeSide, err := openSide(ctx, cfg, job, s, ro)
			if err != nil {
				return nil, err
			}
			defer closeSide()
			return sd.ListVersions(ctx, p)
		}()
		if err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			out.Errors = append(out.Errors, api.SideError{Side: s, Error: err.Error()})
			continue
		}
		out.Versions = append(out.Versions, api.NewVersions(s, restore.Number(vs))...)
	}
	return out, nil
}

// restoreVersions puts back what req picks on its side, file by file; it
// returns what it restored before any error.
func restoreVersions(ctx context.Context, cfg *config.Config, job *config.Job, req api.RestoreRequest, ro remoteOptions) (api.Restored, error) {
	done := api.Restored{Restored: []api.Version{}}
	sd, closeSide, err := openSide(ctx, cfg, job, req.Side, ro)
	if err != nil {
		return done, err
	}
	defer closeSide()
	vs, err := sd.ListVersions(ctx, req.Path)
	if err != nil {
		return done, err
	}
	picked, err := restore.Pick(vs, req.Path, req.At, req.Version)
	if err != nil {
		return done, fmt.Errorf("%w on the %s side (ferry versions --config %s %s %s lists them)", err, req.Side,
			halt.Quote(cfg.File), halt.Quote(job.Name), halt.Quote(req.Path))
	}
	number := map[versions.Version]int{}
	for _, n := range restore.Number(vs) {
		number[n.Version] = n.N
	}
	for _, v := range picked {
		if err := sd.RestoreVersion(ctx, v, v.Path); err != nil {
			return done, err
		}
		done.Restored = append(done.Restored, api.NewVersions(req.Side, []restore.Numbered{{Version: v, N: number[v]}})...)
	}
	return done, nil
}

// printVersions writes the versions as a table, names escaped.
func printVersions(w io.Writer, vs []api.Version, p string) {
	if len(vs) == 0 {
		what := "anything"
		if p != "" {
			what = render.Clean(p) + " or anything under it"
		}
		fmt.Fprintf(w, "no kept versions of %s\n", what)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tSIDE\t#\tKEPT\tSIZE\tWHY")
	for _, v := range vs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", render.Clean(v.Path), v.Side, v.Number, v.Time.Local().Format(time.DateTime),
			render.Size(v.Size), render.Clean(v.Why))
	}
	tw.Flush()
}

// versionsService serves the API's versions endpoints for a running
// agent, with the jobs file it runs now.
type versionsService struct {
	cfg *atomic.Pointer[config.Config]
	ro  remoteOptions
}

var _ api.Versions = (*versionsService)(nil)

func (s *versionsService) job(name string) (*config.Config, *config.Job, error) {
	cfg := s.cfg.Load()
	job, ok := cfg.Job(name)
	if !ok {
		return nil, nil, fmt.Errorf("%w: %q", api.ErrNoJob, name)
	}
	return cfg, job, nil
}

func (s *versionsService) List(ctx context.Context, name, side, p string) (api.VersionList, error) {
	cfg, job, err := s.job(name)
	if err != nil {
		return api.VersionList{}, err
	}
	return listVersions(ctx, cfg, job, side, p, s.ro)
}

func (s *versionsService) Restore(ctx context.Context, name string, req api.RestoreRequest) (api.Restored, error) {
	cfg, job, err := s.job(name)
	if err != nil {
		return api.Restored{}, err
	}
	return restoreVersions(ctx, cfg, job, req, s.ro)
}
