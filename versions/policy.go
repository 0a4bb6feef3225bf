package versions

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Keep names a policy.
type Keep string

// The policies.
const (
	// KeepNone keeps nothing: files are deleted and replaced outright.
	KeepNone Keep = "none"
	// KeepTrashcan keeps every version until it is MaxAge old.
	KeepTrashcan Keep = "trashcan"
	// KeepSimple keeps the Count newest versions of each file.
	KeepSimple Keep = "simple"
	// KeepStaggered keeps one version per 30 s for the first hour, one
	// per hour for the first day, one per day for 30 days, then one per
	// week until MaxAge.
	KeepStaggered Keep = "staggered"
)

// Defaults of a policy left unset.
const (
	DefaultKeep       = KeepTrashcan
	DefaultMaxAge     = 30 * 24 * time.Hour
	DefaultCount      = 5
	DefaultMaxPercent = 10
)

// Policy says which versions to keep. Whatever the policy, when MaxSize is
// set the oldest versions go first until the store is no bigger.
type Policy struct {
	Keep Keep
	// MaxAge bounds the age of trashcan and staggered versions; 0 is no
	// bound.
	MaxAge time.Duration
	// Count is the versions per file that simple keeps.
	Count int
	// MaxSize bounds the store in bytes; 0 is no bound.
	MaxSize int64
	// MaxPercent bounds the store as a percentage of its filesystem's
	// size; 0 is no bound. Prune ignores it: OnFilesystem turns it into
	// MaxSize.
	MaxPercent float64
}

// DefaultPolicy is the policy of a job or root that sets none: a trashcan
// of 30 days, at most 10 % of the filesystem.
func DefaultPolicy() Policy {
	return Policy{Keep: DefaultKeep, MaxAge: DefaultMaxAge, Count: DefaultCount, MaxPercent: DefaultMaxPercent}
}

// Keeps reports whether the policy keeps anything.
func (p Policy) Keeps() bool { return p.Keep != KeepNone }

// EnsureValid checks the policy's fields. The error names the field as
// the YAML spells it.
func (p Policy) EnsureValid() error {
	switch p.Keep {
	case KeepNone, KeepTrashcan, KeepSimple, KeepStaggered:
	default:
		return fmt.Errorf("keep: %q is not a policy (none, trashcan, simple or staggered)", p.Keep)
	}
	if p.MaxAge < 0 {
		return fmt.Errorf("max_age: must not be negative")
	}
	if p.Keep == KeepSimple && p.Count < 1 {
		return fmt.Errorf("count: simple keeps at least 1 version per file")
	}
	if p.Count < 0 {
		return fmt.Errorf("count: must not be negative")
	}
	if p.MaxSize < 0 {
		return fmt.Errorf("max_size: must not be negative")
	}
	if p.MaxPercent < 0 || p.MaxPercent > 100 {
		return fmt.Errorf("max_size: a percentage is between 0%% and 100%%")
	}
	return nil
}

// OnFilesystem is p with MaxPercent of a filesystem of total bytes turned
// into MaxSize (the smaller bound wins when both are set).
func (p Policy) OnFilesystem(total int64) Policy {
	if p.MaxPercent > 0 && total > 0 {
		limit := int64(float64(total) * p.MaxPercent / 100)
		if limit < 1 {
			limit = 1
		}
		if p.MaxSize == 0 || limit < p.MaxSize {
			p.MaxSize = limit
		}
	}
	p.MaxPercent = 0
	return p
}

// staggered are the spacings of KeepStaggered: a version younger than
// upTo is kept if it is at least every older than the next newer version
// kept. Past the last, one per week.
var staggered = []struct{ upTo, every time.Duration }{
	{time.Hour, 30 * time.Second},
	{24 * time.Hour, time.Hour},
	{30 * 24 * time.Hour, 24 * time.Hour},
}

const staggeredRest = 7 * 24 * time.Hour

func staggeredEvery(age time.Duration) time.Duration {
	for _, s := range staggered {
		if age < s.upTo {
			return s.every
		}
	}
	return staggeredRest
}

// Prune returns the versions p drops at now, oldest first. It is a pure
// function: it reads no clock and no disk. MaxPercent is ignored (see
// OnFilesystem). The newest version of each file is dropped only by age
// (trashcan, staggered), by none, or by MaxSize.
func Prune(vs []Version, p Policy, now time.Time) []Version {
	byPath := map[string][]Version{}
	for _, v := range vs {
		byPath[v.Path] = append(byPath[v.Path], v)
	}
	var drop, kept []Version
	for _, list := range byPath {
		// Newest first.
		slices.SortFunc(list, func(a, b Version) int { return b.Time.Compare(a.Time) })
		var last time.Time // the time of the last version kept, newer than the one at hand
		for i, v := range list {
			age := now.Sub(v.Time)
			keep := true
			switch p.Keep {
			case KeepNone:
				keep = false
			case KeepTrashcan:
				keep = p.MaxAge == 0 || age <= p.MaxAge
			case KeepSimple:
				keep = i < p.Count
			case KeepStaggered:
				switch {
				case p.MaxAge != 0 && age > p.MaxAge:
					keep = false
				case last.IsZero():
					keep = true
				default:
					keep = last.Sub(v.Time) >= staggeredEvery(age)
				}
			}
			if keep {
				kept = append(kept, v)
				last = v.Time
			} else {
				drop = append(drop, v)
			}
		}
	}
	if p.MaxSize > 0 {
		var total int64
		for _, v := range kept {
			total += v.Size
		}
		if total > p.MaxSize {
			sortOldestFirst(kept)
			for _, v := range kept {
				if total <= p.MaxSize {
					break
				}
				drop = append(drop, v)
				total -= v.Size
			}
		}
	}
	sortOldestFirst(drop)
	return drop
}

// sortOldestFirst orders by time, then path, so the order is the same on
// every run.
func sortOldestFirst(vs []Version) {
	slices.SortFunc(vs, func(a, b Version) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return cmp.Compare(a.Reason, b.Reason)
	})
}
