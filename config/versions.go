package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ferry-sync/ferry/versions"
)

// VersionsPolicy is p, or the default policy (trashcan, 30 days, 10 %)
// when p was never set (a Job built in code).
func VersionsPolicy(p versions.Policy) versions.Policy {
	if p.Keep == "" {
		return versions.DefaultPolicy()
	}
	return p
}

// versionsSpec is a versions: mapping as written: nil fields were left
// out and come from the policy it is applied to.
type versionsSpec struct {
	keep    *string
	maxAge  *time.Duration
	count   *int
	maxSize *StoreSize
}

func (s versionsSpec) apply(p versions.Policy) versions.Policy {
	if s.keep != nil {
		p.Keep = versions.Keep(*s.keep)
	}
	if s.maxAge != nil {
		p.MaxAge = *s.maxAge
	}
	if s.count != nil {
		p.Count = *s.count
	}
	if s.maxSize != nil {
		p.MaxSize, p.MaxPercent = s.maxSize.Bytes, s.maxSize.Percent
	}
	return p
}

// versions decodes a versions: mapping into spec.
func (d *decoder) versions(spec *versionsSpec) handler {
	return func(n *yaml.Node, field string) {
		d.object(n, field, map[string]handler{
			"keep": func(n *yaml.Node, f string) {
				if s, ok := d.scalar(n, f); ok {
					spec.keep = &s
				}
			},
			"max_age": func(n *yaml.Node, f string) {
				s, ok := d.scalar(n, f)
				if !ok {
					return
				}
				a, err := ParseAge(s)
				if err != nil {
					d.fail(n.Line, f, "%v", err)
					return
				}
				spec.maxAge = &a
			},
			"count": func(n *yaml.Node, f string) {
				var c int
				before := len(d.errs)
				d.int(&c)(n, f)
				if len(d.errs) == before {
					spec.count = &c
				}
			},
			"max_size": func(n *yaml.Node, f string) {
				s, ok := d.scalar(n, f)
				if !ok {
					return
				}
				sz, err := ParseStoreSize(s)
				if err != nil {
					d.fail(n.Line, f, "%v", err)
					return
				}
				spec.maxSize = &sz
			},
		})
	}
}

// versionsProblems checks a policy; prefix is the versions: field.
func versionsProblems(prefix string, p versions.Policy) []problem {
	if p.Keep == "" {
		return nil // never set: the default
	}
	var ps []problem
	add := func(field, format string, args ...any) {
		ps = append(ps, problem{field: join(prefix, field), msg: fmt.Sprintf(format, args...)})
	}
	oneOf(add, "keep", string(p.Keep), versions.KeepNone, versions.KeepTrashcan, versions.KeepSimple, versions.KeepStaggered)
	if p.MaxAge < 0 {
		add("max_age", "must not be negative (0 keeps versions of any age)")
	}
	switch {
	case p.Count < 0:
		add("count", "must not be negative")
	case p.Keep == versions.KeepSimple && p.Count < 1:
		add("count", "keep: simple needs at least 1 version per file, not %d", p.Count)
	}
	if p.MaxSize < 0 || p.MaxPercent < 0 || p.MaxPercent > 100 || p.MaxPercent != p.MaxPercent {
		add("max_size", "must be a percentage between 0%% and 100%% or a size like 5GB")
	}
	return ps
}

// ParseAge reads max_age: days ("30d"), weeks ("2w"), or a Go duration
// ("36h", "90m"); "0" is no bound.
func ParseAge(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}} {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			n, err := strconv.ParseFloat(num, 64)
			if err != nil || n < 0 || n != n || n*float64(u.unit) > math.MaxInt64 {
				return 0, fmt.Errorf("%q is not an age (write it like 30d, 2w or 36h)", s)
			}
			return time.Duration(n * float64(u.unit)), nil
		}
	}
	d, err := time.ParseDuration(t)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not an age (write it like 30d, 2w or 36h)", s)
	}
	return d, nil
}

// StoreSize is max_size: a share of the filesystem (Percent) or a byte
// count; both zero is no bound.
type StoreSize struct {
	Bytes   int64
	Percent float64
}

// ParseStoreSize reads max_size: "10%" of the filesystem, or a size as
// ParseSize reads it ("500MB", "5GiB", "1T", a byte count); "0" is no
// bound.
func ParseStoreSize(s string) (StoreSize, error) {
	t := strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(t, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f != f || f < 0 || f > 100 {
			return StoreSize{}, fmt.Errorf("%q is not a percentage between 0%% and 100%%", s)
		}
		return StoreSize{Percent: f}, nil
	}
	b, err := ParseSize(t)
	if err != nil {
		return StoreSize{}, fmt.Errorf("%q is neither a share of the filesystem (10%%) nor a size (500MB, 5GiB)", s)
	}
	return StoreSize{Bytes: int64(b)}, nil
}
