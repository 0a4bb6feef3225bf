package agent

import (
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse("2006-01-02 15:04:05", s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestCronNextTimes(t *testing.T) {
	// 2025-01-03 is a Friday.
	cases := []struct {
		spec  string
		after string
		want  []string
	}{
		{"0 2 * * *", "2025-01-03 01:59:59", []string{"2025-01-03 02:00:00", "2025-01-04 02:00:00"}},
		{"0 2 * * *", "2025-01-03 02:00:00", []string{"2025-01-04 02:00:00"}},
		{"*/15 9-17 * * 1-5", "2025-01-03 17:40:00", []string{"2025-01-03 17:45:00", "2025-01-06 09:00:00", "2025-01-06 09:15:00"}},
		{"@hourly", "2025-01-03 10:30:00", []string{"2025-01-03 11:00:00", "2025-01-03 12:00:00"}},
		{"30 4 1 * *", "2025-01-03 00:00:00", []string{"2025-02-01 04:30:00", "2025-03-01 04:30:00"}},
	}
	for _, c := range cases {
		s, err := parseCron(c.spec)
		if err != nil {
			t.Fatalf("%q: %v", c.spec, err)
		}
		at := mustTime(t, c.after)
		for _, w := range c.want {
			at = s.Next(at)
			if want := mustTime(t, w); !at.Equal(want) {
				t.Errorf("%q: next = %s, want %s", c.spec, at, want)
			}
		}
	}
	if _, err := parseCron("61 * * * *"); err == nil {
		t.Error("minute 61 parsed")
	}
	if _, err := parseCron("* * * * * *"); err == nil {
		t.Error("six fields (seconds) parsed; config cron is five fields")
	}
}

func TestLastFire(t *testing.T) {
	cases := []struct {
		spec, now, want string
	}{
		{"*/5 * * * *", "2025-01-03 10:07:30", "2025-01-03 10:05:00"},
		{"0 8 * * 1-5", "2025-01-05 12:00:00", "2025-01-03 08:00:00"}, // Sunday -> Friday
		{"0 0 1 1 *", "2025-06-01 00:00:00", "2025-01-01 00:00:00"},
		{"0 8 * * *", "2025-01-03 08:00:00", "2025-01-03 08:00:00"}, // fires exactly now
	}
	for _, c := range cases {
		s, err := parseCron(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := lastFire(s, mustTime(t, c.now))
		if !ok || !got.Equal(mustTime(t, c.want)) {
			t.Errorf("%q at %s: last fire %s (%v), want %s", c.spec, c.now, got, ok, c.want)
		}
	}
}

func rate(r config.Rate) *config.Rate { return &r }

func TestBandwidthScheduleAppliesMostRecentRules(t *testing.T) {
	rules, err := parseBWRules([]config.BandwidthRule{
		{Cron: "0 8 * * 1-5", Upload: rate(10e6), Download: rate(20e6)}, // business hours: throttle
		{Cron: "0 18 * * *", Upload: rate(0)},                           // evening: upload uncapped
	})
	if err != nil {
		t.Fatal(err)
	}
	base := config.Bandwidth{Upload: 1e6, Download: 2e6, Policy: config.Fair}

	// Friday 12:00: only the 08:00 rule fired today, the 18:00 one yesterday.
	bw := initialBandwidth(base, rules, mustTime(t, "2025-01-03 12:00:00"))
	if bw.Upload != 10e6 || bw.Download != 20e6 || bw.Policy != config.Fair {
		t.Errorf("at 12:00: %+v, want upload 10M download 20M fair", bw)
	}
	// Friday 19:00: 18:00 is the latest; it leaves download as 08:00 set it.
	bw = initialBandwidth(base, rules, mustTime(t, "2025-01-03 19:00:00"))
	if bw.Upload != 0 || bw.Download != 20e6 {
		t.Errorf("at 19:00: %+v, want upload uncapped download 20M", bw)
	}

	next := nextRuleTime(rules, mustTime(t, "2025-01-03 12:00:00"))
	if want := mustTime(t, "2025-01-03 18:00:00"); !next.Equal(want) {
		t.Errorf("next rule time %s, want %s", next, want)
	}
	bw = dueRules(config.Bandwidth{Upload: 10e6, Download: 20e6}, rules, mustTime(t, "2025-01-03 12:00:00"), next)
	if bw.Upload != 0 || bw.Download != 20e6 {
		t.Errorf("after 18:00 fires: %+v", bw)
	}
}

func TestDebouncerWaitsForStillness(t *testing.T) {
	t0 := mustTime(t, "2025-01-03 10:00:00")
	d := newDebouncer(time.Second)
	if d.pending() || !d.due().IsZero() {
		t.Fatal("fresh debouncer has pending changes")
	}
	d.touch("0:a", t0)
	if want := t0.Add(time.Second); !d.due().Equal(want) {
		t.Fatalf("due %s, want %s", d.due(), want)
	}
	// A file written in chunks every 400ms pushes the pass back each time.
	for i := 1; i <= 5; i++ {
		d.touch("0:big", t0.Add(time.Duration(i)*400*time.Millisecond))
	}
	if want := t0.Add(3 * time.Second); !d.due().Equal(want) {
		t.Fatalf("due %s, want %s (1s after the last chunk)", d.due(), want)
	}
	// A path that never goes still does not starve the job.
	for i := 0; i < 1000; i++ {
		d.touch("0:log", t0.Add(time.Duration(i)*500*time.Millisecond))
	}
	if want := t0.Add(d.maxWait); !d.due().Equal(want) {
		t.Fatalf("due %s, want %s (max wait after the first change)", d.due(), want)
	}
	d.clear()
	if d.pending() {
		t.Fatal("clear left pending changes")
	}
}
