package agent

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/ferry-sync/ferry/config"
)

// Limits holds a job's bandwidth caps as they change at run time
// (SetBandwidth, bandwidth.schedule rules). The agent hands it to the
// opener (OpenRequest.Limits) so a transport can apply new caps to a
// session that is already open:
//
//	for {
//		bw, changed := lim.Load()
//		session.SetRates(bw.Upload, bw.Download)
//		select {
//		case <-changed:
//		case <-done:
//			return
//		}
//	}
type Limits struct {
	mu      sync.Mutex
	bw      config.Bandwidth
	changed chan struct{}
}

// NewLimits returns Limits holding bw.
func NewLimits(bw config.Bandwidth) *Limits {
	return &Limits{bw: bw, changed: make(chan struct{})}
}

// Load returns the caps in force and a channel that is closed at the next
// change; call Load again after it closes.
func (l *Limits) Load() (config.Bandwidth, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bw, l.changed
}

// Bandwidth returns the caps in force.
func (l *Limits) Bandwidth() config.Bandwidth {
	bw, _ := l.Load()
	return bw
}

// set replaces the caps and wakes every Load waiter.
func (l *Limits) set(bw config.Bandwidth) {
	l.mu.Lock()
	l.bw = bw
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// Schedule applies a job's bandwidth.schedule to its Limits as the rules
// fire, for a caller that runs a pass itself (a one-shot `ferry sync`);
// the agent does the same in each job's loop. Time is read only through
// its Clock.
type Schedule struct {
	clock   Clock
	rules   []bwRule
	limits  *Limits
	checked time.Time // rules firing up to here are applied
}

// NewSchedule returns a Schedule whose Limits hold bw with the rules of
// bw.Schedule in force at clock.Now() applied. A nil clock is the wall
// clock.
func NewSchedule(bw config.Bandwidth, clock Clock) (*Schedule, error) {
	rules, err := parseBWRules(bw.Schedule)
	if err != nil {
		return nil, fmt.Errorf("unable to follow the bandwidth schedule: %w", err)
	}
	if clock == nil {
		clock = realClock{}
	}
	now := clock.Now()
	return &Schedule{clock: clock, rules: rules, checked: now,
		limits: NewLimits(initialBandwidth(bw, rules, now))}, nil
}

// Limits is where the caps in force are published.
func (s *Schedule) Limits() *Limits { return s.limits }

// Run applies every rule as it fires until ctx ends; with no rules it
// returns at once.
func (s *Schedule) Run(ctx context.Context) {
	for {
		next := nextRuleTime(s.rules, s.checked)
		if next.IsZero() {
			return
		}
		t := s.clock.NewTimer(max(0, next.Sub(s.clock.Now())))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		now := s.clock.Now()
		if now.Before(next) {
			continue
		}
		s.limits.set(dueRules(s.limits.Bandwidth(), s.rules, s.checked, now))
		s.checked = now
	}
}

// parseCron accepts what config validation accepts: five fields or a
// descriptor (@daily), optionally prefixed by TZ=.
func parseCron(spec string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("unable to parse cron expression %q: %w", spec, err)
	}
	return s, nil
}

// bwRule is a parsed bandwidth.schedule entry.
type bwRule struct {
	sched cron.Schedule
	rule  config.BandwidthRule
}

func parseBWRules(rules []config.BandwidthRule) ([]bwRule, error) {
	out := make([]bwRule, 0, len(rules))
	for i, r := range rules {
		s, err := parseCron(r.Cron)
		if err != nil {
			return nil, fmt.Errorf("bandwidth.schedule[%d]: %w", i, err)
		}
		out = append(out, bwRule{sched: s, rule: r})
	}
	return out, nil
}

// applyRule changes the caps a rule names and leaves the others.
func applyRule(bw config.Bandwidth, r config.BandwidthRule) config.Bandwidth {
	if r.Upload != nil {
		bw.Upload = *r.Upload
	}
	if r.Download != nil {
		bw.Download = *r.Download
	}
	return bw
}

// lookback is how far back lastFire searches, in growing windows so that a
// frequent rule is found in a few steps and a yearly one still is.
var lookback = [...]time.Duration{
	time.Hour, 25 * time.Hour, 8 * 24 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour, 5 * 367 * 24 * time.Hour,
}

// lastFire returns the latest time at or before now when s fired.
// robfig/cron only computes forward, so it walks forward from now-window.
func lastFire(s cron.Schedule, now time.Time) (time.Time, bool) {
	for _, w := range lookback {
		var last time.Time
		t := now.Add(-w)
		for i := 0; i < 200000; i++ {
			n := s.Next(t)
			if n.IsZero() || n.After(now) {
				break
			}
			last, t = n, n
		}
		if !last.IsZero() {
			return last, true
		}
	}
	return time.Time{}, false
}

// initialBandwidth is base with every rule that has fired applied in the
// order they last fired, so the most recent rule wins for each cap it sets
// and older rules still supply caps it leaves alone.
func initialBandwidth(base config.Bandwidth, rules []bwRule, now time.Time) config.Bandwidth {
	type fired struct {
		at time.Time
		i  int
	}
	var fs []fired
	for i, r := range rules {
		if t, ok := lastFire(r.sched, now); ok {
			fs = append(fs, fired{t, i})
		}
	}
	sort.SliceStable(fs, func(a, b int) bool { return fs[a].at.Before(fs[b].at) })
	for _, f := range fs {
		base = applyRule(base, rules[f.i].rule)
	}
	return base
}

// dueRules applies, in firing order, the rules that fire in (after, now].
func dueRules(bw config.Bandwidth, rules []bwRule, after, now time.Time) config.Bandwidth {
	type fired struct {
		at time.Time
		i  int
	}
	var fs []fired
	for i, r := range rules {
		if n := r.sched.Next(after); !n.IsZero() && !n.After(now) {
			// Several firings of one rule in the window collapse to the last.
			at := n
			for k := 0; k < 100000; k++ {
				m := r.sched.Next(at)
				if m.IsZero() || m.After(now) {
					break
				}
				at = m
			}
			fs = append(fs, fired{at, i})
		}
	}
	sort.SliceStable(fs, func(a, b int) bool { return fs[a].at.Before(fs[b].at) })
	for _, f := range fs {
		bw = applyRule(bw, rules[f.i].rule)
	}
	return bw
}

// nextRuleTime is the earliest firing of any rule after t (zero if none).
func nextRuleTime(rules []bwRule, t time.Time) time.Time {
	var next time.Time
	for _, r := range rules {
		if n := r.sched.Next(t); !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	return next
}
