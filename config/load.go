package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ferry-sync/ferry/versions"
)

// Defaults for what a jobs file leaves out.
const (
	DefaultStateDir               = "~/.local/state/ferry"
	DefaultMaxConcurrentTransfers = 3
	DefaultInterval               = 30 * time.Second
	DefaultPartialSuffix          = ".partial"
	DefaultDiskSpaceWarning       = 0.05
	DefaultCooloff                = time.Second
	DefaultRescanInterval         = 10 * time.Minute
	DefaultIdentity               = "~/.ssh/id_ed25519"
	DefaultRetryAttempts          = 3
	DefaultRetryInterval          = 30 * time.Second
	DefaultMaxDeletePercent       = 50
)

// DefaultJob returns a job with every default filled in except Name, Local,
// Remote and KnownHosts (which defaults to Config.KnownHostsPath). A leading
// ~ in Identity is expanded when the home directory is known.
func DefaultJob() Job {
	identity, err := expandHome(DefaultIdentity)
	if err != nil {
		identity = DefaultIdentity
	}
	j := Job{
		Direction:        RemoteToLocal,
		Mode:             Interval,
		Interval:         DefaultInterval,
		Conflicts:        Rename,
		MaxDelete:        Limit{IsPercent: true, Percent: DefaultMaxDeletePercent, Set: true},
		PartialSuffix:    DefaultPartialSuffix,
		DiskSpaceWarning: DefaultDiskSpaceWarning,
		Cooloff:          DefaultCooloff,
		RescanInterval:   DefaultRescanInterval,
		Identity:         identity,
		Bandwidth:        Bandwidth{Policy: Fair},
		Transport:        Auto,
		Retry:            Retry{Attempts: DefaultRetryAttempts, Interval: DefaultRetryInterval},
		Versions:         versions.DefaultPolicy(),
		Sessions:         DefaultSessions,
	}
	j.MultiSessionThreshold = DefaultMultiSessionThreshold
	return j
}

// Load reads and validates the jobs file at path. A file that cannot be
// read is an *Error too (with no line), so callers treat it as the
// configuration problem it is; errors.Is still sees the cause.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, readError(path, "jobs file", err)
	}
	return Parse(path, data)
}

// readError words a failed read of a configuration file. The path is
// already Error.File, so a *fs.PathError's own copy of it is dropped.
func readError(path, what string, err error) *Error {
	cause := err
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		cause = pe.Err
	}
	return &Error{File: path, Msg: fmt.Sprintf("unable to read the %s: %v", what, cause), err: err}
}

// Parse decodes and validates a jobs file; file names it in errors. Every
// problem found is returned, joined; each is an *Error.
func Parse(file string, data []byte) (*Config, error) {
	d := newDecoder(file)
	c := &Config{File: file, MaxConcurrentTransfers: DefaultMaxConcurrentTransfers}
	c.StateDir, _ = expandHome(DefaultStateDir)
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	root := d.document(data)
	if root != nil && !isNull(root) {
		d.object(root, "", map[string]handler{
			"state_dir":                d.path(&c.StateDir),
			"max_concurrent_transfers": d.int(&c.MaxConcurrentTransfers),
			"jobs": func(n *yaml.Node, field string) {
				d.list(n, field, func(v *yaml.Node, f string, _ int) {
					c.Jobs = append(c.Jobs, d.job(v, f))
				})
			},
		})
	}
	for i := range c.Jobs {
		if _, set := d.lines[fmt.Sprintf("jobs[%d].known_hosts", i)]; !set || c.Jobs[i].KnownHosts == "" {
			c.Jobs[i].KnownHosts = c.KnownHostsPath()
		}
	}
	if d.complete() {
		ps := c.problems()
		ps = append(ps, d.remoteOnly(c)...)
		d.report(ps, 0)
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// remoteOnly finds identity and known_hosts written for a job whose remote
// is a local folder: they are only read for ferry:// remotes, so writing
// them there is a mistake about the job (a wrong remote, or a copied
// block). Values a job gets through a merge key are shared settings, not
// a statement about this job, and pass.
func (d *decoder) remoteOnly(c *Config) []problem {
	var ps []problem
	for i, j := range c.Jobs {
		if j.Remote == "" || IsRemoteURL(j.Remote) || !filepath.IsAbs(j.Remote) {
			continue
		}
		for _, key := range []string{"identity", "known_hosts", "proxy"} {
			f := fmt.Sprintf("jobs[%d].%s", i, key)
			if d.written[f] {
				ps = append(ps, problem{field: f, msg: fmt.Sprintf(
					"only applies to ferry:// remotes, and this job's remote %q is a local folder; remove it (or make remote a ferry:// URL)", j.Remote)})
			}
		}
	}
	return ps
}

func (d *decoder) job(n *yaml.Node, field string) Job {
	j := DefaultJob()
	var vs versionsSpec
	handlers := map[string]handler{
		"name":               d.str(&j.Name),
		"local":              d.path(&j.Local),
		"remote":             d.path(&j.Remote),
		"direction":          d.str((*string)(&j.Direction)),
		"mode":               d.str((*string)(&j.Mode)),
		"interval":           d.duration(&j.Interval),
		"schedule":           d.str(&j.Schedule),
		"local_signature":    d.str(&j.LocalSignature),
		"remote_signature":   d.str(&j.RemoteSignature),
		"conflicts":          d.str((*string)(&j.Conflicts)),
		"exclude":            d.strings(&j.Exclude),
		"max_delete":         d.limit(&j.MaxDelete),
		"max_change":         d.limit(&j.MaxChange),
		"partial_suffix":     d.str(&j.PartialSuffix),
		"disk_space_warning": d.fraction(&j.DiskSpaceWarning),
		"cooloff":            d.duration(&j.Cooloff),
		"rescan_interval":    d.duration(&j.RescanInterval),
		"identity":           d.path(&j.Identity),
		"known_hosts":        d.path(&j.KnownHosts),
		"bandwidth":          d.bandwidth(&j.Bandwidth),
		"transport":          d.str((*string)(&j.Transport)),
		"proxy":              d.str(&j.Proxy),
		"versions":           d.versions(&vs),
		"sessions":           d.int(&j.Sessions),
		"encryption":         d.encryption(&j.Encryption),
		"retry": func(n *yaml.Node, field string) {
			d.object(n, field, map[string]handler{
				"attempts": d.int(&j.Retry.Attempts),
				"interval": d.duration(&j.Retry.Interval),
			})
		},
	}
	handlers["multi_session_threshold"] = d.size(&j.MultiSessionThreshold)
	d.object(n, field, handlers)
	j.Versions = vs.apply(j.Versions)
	if IsRemoteURL(j.Remote) {
		// A bad URL is reported by the semantic checks.
		j.RemoteURL, _ = ParseRemoteURL(j.Remote)
	}
	return j
}

func (d *decoder) bandwidth(b *Bandwidth) handler {
	return func(n *yaml.Node, field string) {
		d.object(n, field, map[string]handler{
			"upload":      d.rate(&b.Upload),
			"download":    d.rate(&b.Download),
			"policy":      d.str((*string)(&b.Policy)),
			"target_rate": d.rate(&b.TargetRate),
			"min_rate":    d.rate(&b.MinRate),
			"schedule": func(n *yaml.Node, field string) {
				d.list(n, field, func(v *yaml.Node, f string, _ int) {
					var r BandwidthRule
					d.object(v, f, map[string]handler{
						"cron":     d.str(&r.Cron),
						"upload":   d.ratePtr(&r.Upload),
						"download": d.ratePtr(&r.Download),
					})
					b.Schedule = append(b.Schedule, r)
				})
			},
		})
	}
}

// limit decodes max_delete and max_change: "50%" or a count.
func (d *decoder) limit(dst *Limit) handler {
	return func(n *yaml.Node, field string) {
		s, ok := d.scalar(n, field)
		if !ok {
			return
		}
		l, err := ParseLimit(s)
		if err != nil {
			d.fail(n.Line, field, "%v", err)
			return
		}
		*dst = l
	}
}

// ParseLimit reads max_delete and max_change: a percentage ("50%", "12.5%") or a count
// ("200").
func ParseLimit(s string) (Limit, error) {
	t := strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(t, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f != f || f < 0 || f > 100 {
			return Limit{}, fmt.Errorf("%q is not a percentage between 0%% and 100%%", s)
		}
		return Limit{IsPercent: true, Percent: f, Set: true}, nil
	}
	n, err := strconv.Atoi(t)
	if err != nil || n < 0 {
		return Limit{}, fmt.Errorf("%q is neither a percentage (50%%) nor a count of entries (200)", s)
	}
	return Limit{Count: n, Set: true}, nil
}

// fraction decodes disk_space_warning: "5%" or 0.05.
func (d *decoder) fraction(dst *float64) handler {
	return func(n *yaml.Node, field string) {
		s, ok := d.scalar(n, field)
		if !ok {
			return
		}
		t := strings.TrimSpace(s)
		div := 1.0
		if p, ok := strings.CutSuffix(t, "%"); ok {
			t, div = strings.TrimSpace(p), 100
		}
		f, err := strconv.ParseFloat(t, 64)
		if err != nil || f != f || f/div < 0 || f/div > 1 {
			d.fail(n.Line, field, "%q is not a share of the disk (write it like 5%% or 0.05)", s)
			return
		}
		*dst = f / div
	}
}

// DBPath is where job's snapshot database lives.
func (c *Config) DBPath(job string) string {
	return filepath.Join(c.StateDir, "jobs", job+".db")
}

// SocketPath is the agent's control socket.
func (c *Config) SocketPath() string { return filepath.Join(c.StateDir, "ferry.sock") }

// LogDir holds the agent's logs.
func (c *Config) LogDir() string { return filepath.Join(c.StateDir, "logs") }

// KnownHostsPath is the default known_hosts file for ferry:// remotes.
func (c *Config) KnownHostsPath() string { return filepath.Join(c.StateDir, "known_hosts") }

// Job returns the job called name.
func (c *Config) Job(name string) (*Job, bool) {
	for i := range c.Jobs {
		if c.Jobs[i].Name == name {
			return &c.Jobs[i], true
		}
	}
	return nil, false
}
