package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ferry-sync/ferry/tree"
	"github.com/robfig/cron/v3"
)

var validName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// EnsureValid checks a whole configuration, jobs included.
func (c *Config) EnsureValid() error {
	return asErrors(c.File, c.problems())
}

// EnsureValid checks one job, for jobs built or changed outside a file (a
// live bandwidth change, tests).
func (j *Job) EnsureValid() error {
	if err := asErrors("", j.problems("")); err != nil {
		return fmt.Errorf("job %q: %w", j.Name, err)
	}
	return nil
}

func asErrors(file string, ps []problem) error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = &Error{File: file, Field: p.field, Msg: p.msg}
	}
	return errors.Join(errs...)
}

func (c *Config) problems() []problem {
	var ps []problem
	add := func(field, format string, args ...any) {
		ps = append(ps, problem{field: field, msg: fmt.Sprintf(format, args...)})
	}
	if !filepath.IsAbs(c.StateDir) {
		add("state_dir", "%q is not an absolute path", c.StateDir)
	}
	if c.MaxConcurrentTransfers < 1 {
		add("max_concurrent_transfers", "must be at least 1, not %d", c.MaxConcurrentTransfers)
	}
	first := map[string]int{}
	for i := range c.Jobs {
		prefix := fmt.Sprintf("jobs[%d]", i)
		ps = append(ps, c.Jobs[i].problems(prefix)...)
		name := c.Jobs[i].Name
		if name == "" {
			continue
		}
		if k, dup := first[name]; dup {
			add(prefix+".name", "%q is already the name of jobs[%d]; job names must be unique", name, k)
			continue
		}
		first[name] = i
	}
	return ps
}

func (j *Job) problems(prefix string) []problem {
	var ps []problem
	add := func(field, format string, args ...any) {
		ps = append(ps, problem{field: join(prefix, field), msg: fmt.Sprintf(format, args...)})
	}
	switch {
	case j.Name == "":
		add("name", "is required")
	case !validName.MatchString(j.Name):
		add("name", "%q may contain only letters, digits, '.', '_' and '-'", j.Name)
	}
	switch {
	case j.Local == "":
		add("local", "is required")
	case !filepath.IsAbs(j.Local):
		add("local", "%q is not an absolute path", j.Local)
	}
	switch {
	case j.Remote == "":
		add("remote", "is required")
	case IsRemoteURL(j.Remote):
		if _, err := ParseRemoteURL(j.Remote); err != nil {
			add("remote", "%v", err)
		}
	case !filepath.IsAbs(j.Remote):
		add("remote", "%q is neither an absolute path nor a ferry:// URL", j.Remote)
	case filepath.IsAbs(j.Local) && overlap(j.Local, j.Remote):
		add("remote", "%q overlaps local %q; a job cannot sync a folder with itself or its own subfolder", j.Remote, j.Local)
	}
	oneOf(add, "direction", string(j.Direction), TwoWay, RemoteToLocal, LocalToRemote)
	oneOf(add, "mode", string(j.Mode), Interval, Continuous, Schedule)
	if j.Interval <= 0 {
		add("interval", "must be longer than 0, not %v", j.Interval)
	}
	switch {
	case j.Schedule != "":
		if err := checkCron(j.Schedule); err != nil {
			add("schedule", "%v", err)
		}
	case j.Mode == Schedule:
		ps = append(ps, problem{field: join(prefix, "schedule"), at: join(prefix, "mode"),
			msg: "is required with mode: schedule (a cron expression like \"*/5 * * * *\")"})
	}
	for _, s := range []struct{ field, v string }{{"local_signature", j.LocalSignature}, {"remote_signature", j.RemoteSignature}} {
		if s.v != "" && tree.ValidPath(s.v) != nil {
			add(s.field, "%q must be a relative path inside the folder (no leading /, no ..)", s.v)
		}
	}
	oneOf(add, "conflicts", string(j.Conflicts), Rename, Manual)
	for i, p := range j.Exclude {
		if _, err := tree.NewMatcher([]string{p}); err != nil {
			add(fmt.Sprintf("exclude[%d]", i), "%v", err)
		}
	}
	if l := j.MaxDelete; l.IsPercent && (l.Percent != l.Percent || l.Percent < 0 || l.Percent > 100) || !l.IsPercent && l.Count < 0 {
		add("max_delete", "must be a percentage between 0%% and 100%% or a count of at least 0")
	}
	switch s := j.PartialSuffix; {
	case s == "":
		add("partial_suffix", "must not be empty: partial files need a name of their own")
	case strings.ContainsAny(s, "/\\\x00") || s == "." || s == "..":
		add("partial_suffix", "%q must be a plain file name suffix like .partial", s)
	}
	if w := j.DiskSpaceWarning; w != w || w < 0 || w > 1 {
		add("disk_space_warning", "must be a share between 0%% and 100%%")
	}
	if j.Cooloff < 0 {
		add("cooloff", "must not be negative")
	}
	if j.RescanInterval <= 0 {
		add("rescan_interval", "must be longer than 0, not %v", j.RescanInterval)
	}
	if j.Identity != "" && !filepath.IsAbs(j.Identity) {
		add("identity", "%q is not an absolute path", j.Identity)
	}
	if j.KnownHosts != "" && !filepath.IsAbs(j.KnownHosts) {
		add("known_hosts", "%q is not an absolute path", j.KnownHosts)
	}
	ps = append(ps, j.Bandwidth.problems(join(prefix, "bandwidth"))...)
	oneOf(add, "transport", string(j.Transport), UDP, TCP, Auto)
	if j.Retry.Attempts < 1 {
		add("retry.attempts", "must be at least 1, not %d", j.Retry.Attempts)
	}
	if j.Retry.Interval < 0 {
		add("retry.interval", "must not be negative")
	}
	return ps
}

func (b *Bandwidth) problems(prefix string) []problem {
	var ps []problem
	add := func(field, format string, args ...any) {
		ps = append(ps, problem{field: join(prefix, field), msg: fmt.Sprintf(format, args...)})
	}
	oneOf(add, "policy", string(b.Policy), Fixed, High, Fair, Low)
	for _, r := range []struct {
		field string
		v     Rate
	}{{"upload", b.Upload}, {"download", b.Download}, {"target_rate", b.TargetRate}, {"min_rate", b.MinRate}} {
		if r.v < 0 {
			add(r.field, "must not be negative (0 means uncapped)")
		}
	}
	if b.MinRate > 0 && b.TargetRate > 0 && b.MinRate > b.TargetRate {
		add("min_rate", "%v is above target_rate %v", b.MinRate, b.TargetRate)
	}
	for i, r := range b.Schedule {
		f := fmt.Sprintf("schedule[%d]", i)
		if r.Cron == "" {
			add(f+".cron", "is required")
		} else if err := checkCron(r.Cron); err != nil {
			add(f+".cron", "%v", err)
		}
		if r.Upload == nil && r.Download == nil {
			add(f, "changes nothing: give upload, download or both")
		}
		for _, v := range []*Rate{r.Upload, r.Download} {
			if v != nil && *v < 0 {
				add(f, "rates must not be negative (0 means uncapped)")
			}
		}
	}
	return ps
}

// EnsureValid checks bandwidth settings changed at run time.
func (b Bandwidth) EnsureValid() error {
	return asErrors("", b.problems("bandwidth"))
}

func oneOf[T ~string](add func(string, string, ...any), field, v string, allowed ...T) {
	names := make([]string, len(allowed))
	for i, a := range allowed {
		if string(a) == v {
			return
		}
		names[i] = string(a)
	}
	add(field, "%q is not one of %s", v, strings.Join(names, ", "))
}

// checkCron accepts the standard five-field syntax and descriptors like
// @hourly. The parser has panicked on odd input before, so it is guarded.
func checkCron(spec string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%q is not a cron expression", spec)
		}
	}()
	if _, err := cron.ParseStandard(spec); err != nil {
		return fmt.Errorf("%q is not a cron expression (five fields like \"*/5 * * * *\", or @hourly): %v", spec, err)
	}
	return nil
}

// overlap reports whether two local folders are the same or one holds the
// other.
func overlap(a, b string) bool {
	a, b = filepath.Clean(a), filepath.Clean(b)
	if a == b {
		return true
	}
	inside := func(p, dir string) bool {
		return strings.HasPrefix(p, dir) && (strings.HasSuffix(dir, "/") || len(p) > len(dir) && p[len(dir)] == '/')
	}
	return inside(a, b) || inside(b, a)
}
