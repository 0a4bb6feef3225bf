package agent

import (
	"slices"
	"strings"
	"time"
)

// maxTracked bounds the per-path map during an event storm (an untar of a
// million files); past it only the latest time is kept, which is all the
// due time depends on.
const maxTracked = 10000

// debouncer decides when a continuous job's next pass may start: once every
// changed path has been still for cooloff, so a file being written is sent
// once, whole. A path that never goes still (a log appended every second)
// must not starve the job, so a pass also starts once the oldest pending
// change has waited maxWait.
type debouncer struct {
	cooloff time.Duration
	maxWait time.Duration
	last    map[string]time.Time
	first   time.Time // oldest pending change
	latest  time.Time // newest pending change
	untold  bool      // a path was not kept in last
}

func newDebouncer(cooloff time.Duration) *debouncer {
	maxWait := 60 * cooloff
	if maxWait < time.Minute {
		maxWait = time.Minute
	}
	return &debouncer{cooloff: cooloff, maxWait: maxWait, last: make(map[string]time.Time)}
}

// touch records a change to path at now.
func (d *debouncer) touch(path string, now time.Time) {
	if d.first.IsZero() {
		d.first = now
	}
	if now.After(d.latest) {
		d.latest = now
	}
	if _, ok := d.last[path]; ok || len(d.last) < maxTracked {
		d.last[path] = now
	} else {
		d.untold = true
	}
}

// only reports whether changes are pending and every one of them is to a
// path for which f holds.
func (d *debouncer) only(f func(path string) bool) bool {
	if !d.pending() || d.untold {
		return false
	}
	for p := range d.last {
		if !f(p) {
			return false
		}
	}
	return true
}

// within returns the changed paths, relative to the roots (keys are
// "<root>:<path>", see watch.RootKey and remoteKey), for a pass scoped to
// them; false when the pass must look at the whole tree: a change went
// untold, or one is to a root itself.
func (d *debouncer) within() ([]string, bool) {
	if !d.pending() || d.untold {
		return nil, false
	}
	out := make([]string, 0, len(d.last))
	for k := range d.last {
		_, rel, ok := strings.Cut(k, ":")
		if !ok || rel == "" {
			return nil, false
		}
		out = append(out, rel)
	}
	slices.Sort(out)
	return slices.Compact(out), true
}

// pending reports whether any change waits for a pass.
func (d *debouncer) pending() bool { return !d.first.IsZero() }

// due is when the pass for the pending changes may start (zero if none).
func (d *debouncer) due() time.Time {
	if !d.pending() {
		return time.Time{}
	}
	t := d.latest.Add(d.cooloff)
	if cap := d.first.Add(d.maxWait); cap.Before(t) {
		t = cap
	}
	return t
}

// clear forgets the pending changes: a pass is starting and its scan sees them.
func (d *debouncer) clear() {
	clear(d.last)
	d.first, d.latest = time.Time{}, time.Time{}
	d.untold = false
}
