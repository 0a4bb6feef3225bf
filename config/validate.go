package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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
	ps = append(ps, c.overlaps(ps)...)
	return ps
}

// folder is one end of a job, in a form that can be compared with the
// ends of other jobs: a cleaned local path, or a ferry:// server (user,
// host and port; the path is then inside that user's root there) and a
// cleaned path on it.
type folder struct {
	field  string // jobs[i].local or jobs[i].remote
	kind   string // "local" or "remote"
	shown  string // as the user wrote it
	server string // "" for a folder on this machine
	path   string
}

// folders gives job i's ends that are well formed; the others are
// reported by the job's own checks.
func (c *Config) folders(i int) []folder {
	j := &c.Jobs[i]
	prefix := fmt.Sprintf("jobs[%d]", i)
	var out []folder
	if filepath.IsAbs(j.Local) {
		out = append(out, folder{field: prefix + ".local", kind: "local", shown: j.Local, path: filepath.Clean(j.Local)})
	}
	switch {
	case IsRemoteURL(j.Remote):
		if u, err := ParseRemoteURL(j.Remote); err == nil {
			// Host names are case-insensitive; user names and paths are not.
			// A list of servers names one namespace in any order.
			var hosts []string
			for _, h := range u.Servers() {
				hosts = append(hosts, strings.ToLower(h.Host)+":"+strconv.Itoa(h.Port))
			}
			slices.Sort(hosts)
			server := u.User + "@" + strings.Join(hosts, ",")
			out = append(out, folder{field: prefix + ".remote", kind: "remote", shown: j.Remote, server: server, path: u.Path})
		}
	case filepath.IsAbs(j.Remote):
		out = append(out, folder{field: prefix + ".remote", kind: "remote", shown: j.Remote, path: filepath.Clean(j.Remote)})
	}
	return out
}

// overlaps finds folders that two jobs share, or that ferry's own state
// lives in. Two jobs on overlapping folders each see the other's writes as
// changes of their own and race over them; ferry syncing its state folder
// would sync its databases while it writes them. The later job (or
// state_dir) carries the error, once per field, and fields that already
// have a problem in found are left alone.
func (c *Config) overlaps(found []problem) []problem {
	bad := map[string]bool{}
	for _, p := range found {
		bad[p.field] = true
	}
	var ps []problem
	all := make([][]folder, len(c.Jobs))
	for i := range c.Jobs {
		all[i] = c.folders(i)
	}
	for i := range c.Jobs {
		for _, mine := range all[i] {
			if bad[mine.field] {
				continue
			}
		search:
			for k := range i {
				for _, theirs := range all[k] {
					if mine.server != theirs.server {
						continue
					}
					rel, ok := relation(mine.server, mine.path, theirs.path)
					if !ok {
						continue
					}
					ps = append(ps, problem{field: mine.field, msg: fmt.Sprintf(
						"%q %s %s's %s folder %q; two jobs syncing overlapping folders race each other — give each job its own folder",
						mine.shown, rel, c.jobLabel(k), theirs.kind, theirs.shown)})
					bad[mine.field] = true
					break search
				}
			}
		}
	}
	if bad["state_dir"] || !filepath.IsAbs(c.StateDir) {
		return ps
	}
	state := filepath.Clean(c.StateDir)
	for i := range c.Jobs {
		for _, f := range all[i] {
			if f.server != "" || !overlap(state, f.path) || inside(f.path, state) {
				continue
			}
			what := "inside"
			if state == f.path {
				what = "the same folder as"
			}
			note := ""
			if def, err := expandHome(DefaultStateDir); err == nil && def == c.StateDir {
				note = " (the default is " + DefaultStateDir + ")"
			}
			// Left out of the file, state_dir has no line of its own:
			// the folder that swallows it is where to look.
			ps = append(ps, problem{field: "state_dir", near: f.field, msg: fmt.Sprintf(
				"%q is %s %s's %s folder %q, so ferry would sync its own databases; set state_dir to a folder outside every job's folders%s",
				c.StateDir, what, c.jobLabel(i), f.kind, f.shown, note)})
			return ps
		}
	}
	return ps
}

// relation says how folder a stands to folder b: "is inside", "contains"
// or "is the same folder as"; ok is false when they are apart.
func relation(server, a, b string) (rel string, ok bool) {
	switch {
	case a == b:
		return "is the same folder as", true
	case server == "" && inside(a, b), server != "" && insideSlash(a, b):
		return "is inside", true
	case server == "" && inside(b, a), server != "" && insideSlash(b, a):
		return "contains", true
	}
	return "", false
}

func (c *Config) jobLabel(i int) string {
	if n := c.Jobs[i].Name; n != "" {
		return fmt.Sprintf("job %q", n)
	}
	return fmt.Sprintf("jobs[%d]", i)
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
	case j.Schedule != "" && j.Mode != Schedule:
		// Silently ignoring it would leave the user believing the job
		// runs on the cron. An invalid mode is reported on its own.
		if j.Mode == Interval || j.Mode == Continuous {
			add("schedule", "is only used with mode: schedule (mode is %q)", j.Mode)
		}
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
	for _, f := range []struct {
		name string
		l    Limit
	}{{"max_delete", j.MaxDelete}, {"max_change", j.MaxChange}} {
		if l := f.l; l.IsPercent && (l.Percent != l.Percent || l.Percent < 0 || l.Percent > 100) || !l.IsPercent && l.Count < 0 {
			add(f.name, "must be a percentage between 0%% and 100%% or a count of at least 0")
		}
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
	// Only ferry:// remotes read these; a job syncing two local folders
	// must not fail over a default it never uses (~ with no $HOME).
	if IsRemoteURL(j.Remote) {
		if j.Identity != "" && !filepath.IsAbs(j.Identity) {
			add("identity", "%q is not an absolute path", j.Identity)
		}
		if j.KnownHosts != "" && !filepath.IsAbs(j.KnownHosts) {
			add("known_hosts", "%q is not an absolute path", j.KnownHosts)
		}
	}
	ps = append(ps, j.Bandwidth.problems(join(prefix, "bandwidth"))...)
	oneOf(add, "transport", string(j.Transport), UDP, TCP, Auto)
	ps = append(ps, j.proxyProblems(prefix)...)
	if j.Sessions < 1 || j.Sessions > MaxSessions {
		add("sessions", "job %q asks for %d data sessions; it must be between 1 and %d", j.Name, j.Sessions, MaxSessions)
	}
	if j.MultiSessionThreshold < 0 {
		add("multi_session_threshold", "must not be negative (0 never splits a file)")
	}
	if j.Retry.Attempts < 1 {
		add("retry.attempts", "must be at least 1, not %d", j.Retry.Attempts)
	}
	if j.Retry.Interval < 0 {
		add("retry.interval", "must not be negative")
	}
	ps = append(ps, versionsProblems(join(prefix, "versions"), j.Versions)...)
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
	return a == b || inside(a, b) || inside(b, a)
}

// inside reports whether the cleaned local path p is strictly below dir.
func inside(p, dir string) bool {
	return insideSep(p, dir, filepath.Separator)
}

// insideSlash is inside for the slash-separated paths of ferry:// URLs.
func insideSlash(p, dir string) bool { return insideSep(p, dir, '/') }

func insideSep(p, dir string, sep byte) bool {
	if !strings.HasPrefix(p, dir) || len(p) == len(dir) {
		return false
	}
	return dir[len(dir)-1] == sep || p[len(dir)] == sep
}

// proxyProblems checks the proxy key, and that a job with a proxy does
// not insist on UDP, which no proxy carries.
func (j *Job) proxyProblems(prefix string) []problem {
	if j.Proxy == "" || j.Proxy == ProxyNone {
		return nil
	}
	p, err := ParseProxy(j.Proxy)
	if err != nil {
		return []problem{{field: join(prefix, "proxy"), msg: err.Error()}}
	}
	if j.Transport != UDP || !IsRemoteURL(j.Remote) {
		return nil
	}
	return []problem{{field: join(prefix, "transport"), msg: fmt.Sprintf(
		"udp cannot be used with proxy %s: a proxy carries only the SSH connection (TCP), and ferry's UDP data cannot pass through it; set transport: auto or tcp to send the data over the SSH connection", p)}}
}
