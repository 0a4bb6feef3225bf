package versions

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// now is the fake clock of the pruning tables.
var now = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// ago builds a version of path kept d before now, of size bytes.
func ago(path string, d time.Duration, size int64) Version {
	return Version{Path: path, Time: now.Add(-d), Reason: Replaced, Size: size}
}

// names renders versions as "path@age" for comparison.
func names(vs []Version) string {
	var out []string
	for _, v := range vs {
		out = append(out, fmt.Sprintf("%s@%s", v.Path, now.Sub(v.Time)))
	}
	return strings.Join(out, " ")
}

const day = 24 * time.Hour

func TestPrune(t *testing.T) {
	cases := []struct {
		name   string
		policy Policy
		have   []Version
		drop   string
	}{
		{
			name:   "none drops everything",
			policy: Policy{Keep: KeepNone},
			have:   []Version{ago("a", time.Minute, 1), ago("b", time.Second, 1)},
			drop:   "a@1m0s b@1s",
		},
		{
			name:   "trashcan drops what is older than max_age",
			policy: Policy{Keep: KeepTrashcan, MaxAge: 30 * day},
			have:   []Version{ago("a", 31*day, 1), ago("a", 30*day, 1), ago("b", 29*day, 1), ago("b", 40*day, 1)},
			drop:   "b@960h0m0s a@744h0m0s",
		},
		{
			name:   "trashcan without max_age keeps all",
			policy: Policy{Keep: KeepTrashcan},
			have:   []Version{ago("a", 3000*day, 1)},
			drop:   "",
		},
		{
			name:   "simple keeps count per file",
			policy: Policy{Keep: KeepSimple, Count: 2},
			have: []Version{
				ago("a", 1*time.Hour, 1), ago("a", 2*time.Hour, 1), ago("a", 3*time.Hour, 1), ago("a", 400*day, 1),
				ago("b", 5*time.Hour, 1),
			},
			drop: "a@9600h0m0s a@3h0m0s",
		},
		{
			name:   "staggered keeps one per 30 s in the first hour",
			policy: Policy{Keep: KeepStaggered, MaxAge: 365 * day},
			have: []Version{
				ago("a", 10*time.Second, 1), ago("a", 20*time.Second, 1), ago("a", 40*time.Second, 1),
				ago("a", 50*time.Second, 1), ago("a", 75*time.Second, 1),
			},
			drop: "a@50s a@20s",
		},
		{
			name:   "staggered keeps one per hour in the first day",
			policy: Policy{Keep: KeepStaggered, MaxAge: 365 * day},
			have: []Version{
				ago("a", 2*time.Hour, 1), ago("a", 2*time.Hour+30*time.Minute, 1),
				ago("a", 3*time.Hour, 1), ago("a", 3*time.Hour+59*time.Minute, 1), ago("a", 5*time.Hour, 1),
			},
			drop: "a@3h59m0s a@2h30m0s",
		},
		{
			name:   "staggered keeps one per day to 30 days, then one per week",
			policy: Policy{Keep: KeepStaggered, MaxAge: 365 * day},
			have: []Version{
				ago("a", 2*day, 1), ago("a", 2*day+12*time.Hour, 1), ago("a", 3*day, 1),
				ago("a", 40*day, 1), ago("a", 43*day, 1), ago("a", 47*day, 1),
			},
			drop: "a@1032h0m0s a@60h0m0s",
		},
		{
			name:   "staggered drops what is older than max_age, even the only version",
			policy: Policy{Keep: KeepStaggered, MaxAge: 30 * day},
			have:   []Version{ago("a", 31*day, 1), ago("b", 29*day, 1)},
			drop:   "a@744h0m0s",
		},
		{
			name:   "staggered keeps the newest version of each file",
			policy: Policy{Keep: KeepStaggered, MaxAge: 365 * day},
			have:   []Version{ago("a", time.Second, 1), ago("b", time.Second, 1), ago("a", 2*time.Second, 1)},
			drop:   "a@2s",
		},
		{
			name:   "max_size drops the oldest first, across files, after the policy",
			policy: Policy{Keep: KeepTrashcan, MaxAge: 30 * day, MaxSize: 100},
			have: []Version{
				ago("a", 1*day, 40), ago("b", 2*day, 40), ago("c", 3*day, 40), ago("d", 4*day, 40),
				ago("old", 31*day, 1000),
			},
			drop: "old@744h0m0s d@96h0m0s c@72h0m0s",
		},
		{
			name:   "max_size not reached drops nothing more",
			policy: Policy{Keep: KeepTrashcan, MaxSize: 100},
			have:   []Version{ago("a", 1*day, 50), ago("b", 2*day, 50)},
			drop:   "",
		},
		{
			name:   "max_size equal times break ties by path",
			policy: Policy{Keep: KeepTrashcan, MaxSize: 10},
			have:   []Version{ago("b", day, 10), ago("a", day, 10), ago("c", 0, 5)},
			drop:   "a@24h0m0s b@24h0m0s",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			have := slices.Clone(c.have)
			got := names(Prune(have, c.policy, now))
			if got != c.drop {
				t.Errorf("dropped %q, want %q", got, c.drop)
			}
			// Pure: same input, same answer, input untouched.
			if again := names(Prune(have, c.policy, now)); again != got {
				t.Errorf("second run dropped %q, first %q", again, got)
			}
			if !slices.Equal(have, c.have) {
				t.Errorf("Prune changed its input")
			}
		})
	}
}

// TestPruneStaggeredAsTimeGoesBy keeps one version per 30 s over an hour
// and checks the store thins out as the fake clock moves, never dropping
// a file's newest version.
func TestPruneStaggeredAsTimeGoesBy(t *testing.T) {
	var vs []Version
	for i := range 120 {
		vs = append(vs, Version{Path: "f", Time: now.Add(time.Duration(i) * 30 * time.Second), Reason: Replaced, Size: 1})
	}
	p := Policy{Keep: KeepStaggered, MaxAge: 365 * day}
	newest := vs[len(vs)-1]
	clock := now.Add(time.Hour)
	for _, step := range []time.Duration{0, 2 * time.Hour, day, 10 * day, 60 * day} {
		clock = clock.Add(step)
		drop := Prune(vs, p, clock)
		vs = slices.DeleteFunc(vs, func(v Version) bool { return slices.Contains(drop, v) })
		if !slices.Contains(vs, newest) {
			t.Fatalf("at +%s the newest version was dropped", clock.Sub(now))
		}
		t.Logf("at +%s: %d versions", clock.Sub(now), len(vs))
	}
	if len(vs) != 1 {
		t.Errorf("after 60 days a burst of one hour keeps %d versions, want 1", len(vs))
	}
}

func TestPolicyOnFilesystem(t *testing.T) {
	p := Policy{Keep: KeepTrashcan, MaxPercent: 10}.OnFilesystem(1000)
	if p.MaxSize != 100 || p.MaxPercent != 0 {
		t.Errorf("10%% of 1000 = %+v", p)
	}
	p = Policy{Keep: KeepTrashcan, MaxPercent: 10, MaxSize: 50}.OnFilesystem(1000)
	if p.MaxSize != 50 {
		t.Errorf("the smaller bound wins: %+v", p)
	}
}

func TestPolicyEnsureValid(t *testing.T) {
	if err := DefaultPolicy().EnsureValid(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []Policy{
		{Keep: "forever"},
		{Keep: KeepSimple},
		{Keep: KeepTrashcan, MaxAge: -1},
		{Keep: KeepTrashcan, MaxPercent: 101},
	} {
		if p.EnsureValid() == nil {
			t.Errorf("%+v is valid", p)
		}
	}
}
