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

// schedStep is one event fed to a schedule at t0+at, and what it must say
// then: why a pass is due, and when it next wakes (-1: never).
type schedStep struct {
	at   time.Duration
	do   func(s schedule, now time.Time) schedule
	due  dueWhy
	wake time.Duration
}

func started(s schedule, now time.Time) schedule { return s.Start(now) }

func ended(e passEnd) func(schedule, time.Time) schedule {
	return func(s schedule, now time.Time) schedule { return s.OnEnded(now, e) }
}

func scopedEnded(e passEnd) func(schedule, time.Time) schedule {
	return func(s schedule, now time.Time) schedule { return s.OnScopedEnded(now, e) }
}

func changed(after time.Duration) func(schedule, time.Time) schedule {
	return func(s schedule, now time.Time) schedule { return s.Changes(now.Add(after)) }
}

func unwatched(some, idle bool) func(schedule, time.Time) schedule {
	return func(s schedule, now time.Time) schedule { return s.Unwatched(now, idle, some) }
}

func TestScheduleTable(t *testing.T) {
	t0 := mustTime(t, "2025-01-03 10:07:30") // a Friday
	quarter, err := parseCron("*/15 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	retry := config.Retry{Attempts: 2, Interval: 30 * time.Second}
	interval := cadence{mode: config.Interval, interval: time.Minute, retry: retry}
	cronly := cadence{mode: config.Schedule, cron: quarter, retry: retry}
	continuous := cadence{mode: config.Continuous, interval: time.Minute, rescan: time.Hour, retry: retry}
	min := func(m float64) time.Duration { return time.Duration(m * float64(time.Minute)) }
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	const never = -1

	cases := []struct {
		name     string
		c        cadence
		stopped  bool
		watching bool
		sight    remoteSight
		held     bool
		steps    []schedStep
	}{
		{name: "interval: at start, then interval after each end", c: interval, steps: []schedStep{
			{at: 0, due: dueQueued, wake: never},
			{at: 0, do: started, wake: never},
			{at: sec(10), do: ended(passOK), wake: sec(70)},
			{at: sec(69), wake: sec(70)},
			{at: sec(70), due: dueNext, wake: sec(70)},
			{at: sec(70), do: started, wake: never},
			{at: sec(75), do: ended(passInterrupted), wake: sec(135)},
		}},
		{name: "cron: not at start, then each fire time", c: cronly, steps: []schedStep{
			{at: 0, wake: min(7.5)}, // 10:15
			{at: min(7.5) - 1, wake: min(7.5)},
			{at: min(7.5), due: dueNext, wake: min(7.5)},
			{at: min(7.5), do: started, wake: never},
			{at: min(9), do: ended(passOK), wake: min(22.5)}, // 10:30
			// SyncNow between fire times keeps the next fire time.
			{at: min(10), do: func(s schedule, _ time.Time) schedule { return s.Ask() }, due: dueQueued, wake: min(22.5)},
			{at: min(10), do: started, wake: min(22.5)},
			{at: min(11), do: ended(passOK), wake: min(22.5)},
		}},
		{name: "retry: attempts apart, then the next pass, then a fresh streak", c: interval, steps: []schedStep{
			{at: 0, do: started, wake: never},
			{at: sec(5), do: ended(passFailed), wake: sec(35)},
			{at: sec(35), due: dueRetry, wake: sec(35)},
			{at: sec(35), do: started, wake: never},
			{at: sec(40), do: ended(passFailed), wake: sec(70)},
			{at: sec(70), do: started, wake: never},
			{at: sec(75), do: ended(passFailed), wake: sec(135)}, // gave up
			{at: sec(135), due: dueNext, wake: sec(135)},
			{at: sec(135), do: started, wake: never},
			{at: sec(140), do: ended(passFailed), wake: sec(170)}, // retries again
			{at: sec(170), do: started, wake: never},
			{at: sec(171), do: ended(passOK), wake: sec(231)},
		}},
		{name: "cron: a retry comes before the next fire time", c: cronly, steps: []schedStep{
			{at: min(7.5), do: started, wake: never},
			{at: min(8), do: ended(passFailed), wake: min(8.5)},
			{at: min(8.5), due: dueRetry, wake: min(8.5)},
			{at: min(8.5), do: started, wake: never},
			{at: min(9), do: ended(passOK), wake: min(22.5)},
		}},
		{name: "halt: no retry, the next pass as scheduled, and retries restored", c: interval, steps: []schedStep{
			{at: 0, do: started, wake: never},
			{at: sec(1), do: ended(passFailed), wake: sec(31)},
			{at: sec(31), do: started, wake: never},
			{at: sec(32), do: ended(passHalted), wake: sec(92)},
			{at: sec(92), do: started, wake: never},
			{at: sec(93), do: ended(passFailed), wake: sec(123)},
			{at: sec(123), do: started, wake: never},
			{at: sec(124), do: ended(passFailed), wake: sec(154)}, // two retries again
		}},
		{name: "held: no pass while a root is missing; what was due is forgotten", c: continuous, watching: true, sight: remoteWatched, steps: []schedStep{
			{at: 0, do: started, wake: never},
			{at: sec(1), do: ended(passFailed), wake: sec(31)},
			{at: sec(2), do: func(s schedule, _ time.Time) schedule { return s.Hold(true) }, wake: never},
			{at: sec(40), do: func(s schedule, _ time.Time) schedule { return s.Ask() }, wake: never},
			{at: sec(41), do: func(s schedule, _ time.Time) schedule { return s.Hold(true) }, wake: never},
			{at: sec(50), do: func(s schedule, _ time.Time) schedule { return s.Hold(false) }, wake: never},
			{at: sec(51), do: changed(sec(1)), wake: sec(52)},
			{at: sec(52), due: dueChanges, wake: sec(52)},
		}},
		{name: "held at start: the start pass waits for the root", c: interval, held: true, steps: []schedStep{
			{at: 0, wake: never},
			{at: sec(5), do: func(s schedule, _ time.Time) schedule { return s.Hold(false) }, wake: never},
		}},
		{name: "continuous: changes due after cooloff; a full rescan each rescan interval", c: continuous, watching: true, sight: remoteWatched, steps: []schedStep{
			{at: 0, due: dueQueued, wake: never},
			{at: 0, do: started, wake: never},
			{at: sec(1), do: ended(passOK), wake: min(60) + sec(1)}, // no poll: both sides watched
			{at: sec(10), do: changed(sec(1)), wake: sec(11)},
			{at: sec(11), due: dueChanges, wake: sec(11)},
			{at: sec(11), do: started, wake: min(60) + sec(1)}, // the rescan stays
			{at: sec(12), do: ended(passOK), wake: min(60) + sec(12)},
			{at: min(60) + sec(12), due: dueRescan, wake: min(60) + sec(12)},
			{at: min(60) + sec(12), do: started, wake: never},
		}},
		{name: "continuous: scoped passes leave a polled remote's poll where the whole pass set it", c: continuous, watching: true, sight: remotePolled, steps: []schedStep{
			{at: 0, do: started, wake: never},
			{at: sec(1), do: ended(passOK), wake: sec(61)},
			// Local changes every 20 s, each passed for alone: the
			// remote, which only a whole pass sees, is still polled a
			// minute after the last whole pass.
			{at: sec(20), do: changed(sec(1)), wake: sec(21)},
			{at: sec(21), due: dueChanges, wake: sec(21)},
			{at: sec(21), do: started, wake: sec(61)},
			{at: sec(22), do: scopedEnded(passOK), wake: sec(61)},
			{at: sec(40), do: changed(sec(1)), wake: sec(41)},
			{at: sec(41), do: started, wake: sec(61)},
			{at: sec(42), do: scopedEnded(passOK), wake: sec(61)},
			{at: sec(61), due: duePoll, wake: sec(61)},
			{at: sec(61), do: started, wake: min(60) + sec(42)},
			{at: sec(62), do: ended(passOK), wake: sec(122)},
			{at: sec(70), do: changed(sec(1)), wake: sec(71)},
			{at: sec(71), do: started, wake: sec(122)},
			{at: sec(72), do: scopedEnded(passFailed), wake: sec(102)}, // the retry
			{at: sec(102), do: started, wake: sec(122)},
			{at: sec(103), do: ended(passOK), wake: sec(163)},
		}},
		{name: "continuous: a ferry:// remote is polled until the server's watch is armed", c: continuous, watching: true, sight: remoteServed, steps: []schedStep{
			{at: 0, do: started, wake: never},
			{at: sec(1), do: ended(passOK), wake: sec(61)},
			{at: sec(61), due: duePoll, wake: sec(61)},
			{at: sec(61), do: started, wake: min(60) + sec(1)},
			{at: sec(62), do: ended(passOK), wake: sec(122)},
			{at: sec(63), do: func(s schedule, _ time.Time) schedule { return s.Armed() }, wake: min(60) + sec(62)},
			{at: sec(64), do: changed(sec(1)), wake: sec(65)},
			{at: sec(65), do: started, wake: min(60) + sec(62)},
			{at: sec(66), do: ended(passOK), wake: min(60) + sec(66)}, // no poll while armed
			// The kept remote is dropped (stop, a broken connection): polling again.
			{at: sec(67), do: func(s schedule, _ time.Time) schedule { return s.Disarmed() }, wake: min(60) + sec(66)},
			{at: sec(67), do: func(s schedule, _ time.Time) schedule { return s.Ask() }, due: dueQueued, wake: min(60) + sec(66)},
			{at: sec(67), do: started, wake: min(60) + sec(66)},
			{at: sec(68), do: ended(passOK), wake: sec(128)},
		}},
		{name: "continuous: a server that cannot watch is polled from its notice", c: continuous, watching: true, sight: remoteServed, steps: []schedStep{
			{at: 0, do: started, wake: never},
			{at: sec(1), do: func(s schedule, _ time.Time) schedule { return s.Armed() }, wake: never},
			{at: sec(2), do: ended(passOK), wake: min(60) + sec(2)},
			{at: sec(5), do: func(s schedule, now time.Time) schedule { return s.NoWatch(now, true) }, wake: sec(65)},
			// During a pass the notice leaves polling to the pass's end.
			{at: sec(65), do: started, wake: min(60) + sec(2)},
			{at: sec(66), do: func(s schedule, now time.Time) schedule { return s.NoWatch(now, false) }, wake: min(60) + sec(2)},
			{at: sec(67), do: ended(passOK), wake: sec(127)},
		}},
		{name: "continuous: directories that cannot be watched are polled until every one is", c: continuous, watching: true, sight: remoteWatched, steps: []schedStep{
			{at: 0, do: unwatched(true, true), due: dueQueued, wake: sec(60)},
			{at: 0, do: started, wake: sec(60)},
			{at: sec(1), do: ended(passOK), wake: sec(61)}, // a poll, not the rescan an hour away
			{at: sec(61), due: duePoll, wake: sec(61)},
			{at: sec(61), do: started, wake: min(60) + sec(1)},
			{at: sec(62), do: ended(passOK), wake: sec(122)},
			{at: sec(70), do: unwatched(false, true), wake: min(60) + sec(62)}, // all watched again: no poll
			{at: sec(122), wake: min(60) + sec(62)},
			// The limit reached during a pass: polled from the pass's end.
			{at: sec(130), do: func(s schedule, _ time.Time) schedule { return s.Ask() }, due: dueQueued, wake: min(60) + sec(62)},
			{at: sec(130), do: started, wake: min(60) + sec(62)},
			{at: sec(131), do: unwatched(true, false), wake: min(60) + sec(62)},
			{at: sec(132), do: ended(passOK), wake: sec(192)},
			{at: sec(140), do: unwatched(true, true), wake: sec(192)}, // still: the poll stays
		}},
		{name: "continuous: unwatched local directories are polled while the server's watch is armed", c: continuous, watching: true, sight: remoteServed, steps: []schedStep{
			{at: 0, do: started, wake: never},
			{at: sec(1), do: unwatched(true, false), wake: never},
			{at: sec(2), do: ended(passOK), wake: sec(62)},
			{at: sec(3), do: func(s schedule, _ time.Time) schedule { return s.Armed() }, wake: sec(62)},
			{at: sec(4), do: unwatched(false, true), wake: min(60) + sec(2)}, // armed and all watched: no poll
			{at: sec(5), do: unwatched(true, true), wake: sec(65)},
			// The server cannot watch either: the remote keeps the poll
			// once every local directory is watched.
			{at: sec(6), do: func(s schedule, now time.Time) schedule { return s.NoWatch(now, true) }, wake: sec(65)},
			{at: sec(7), do: unwatched(false, true), wake: sec(65)},
		}},
		{name: "interval: unwatched directories change nothing", c: interval, steps: []schedStep{
			{at: 0, do: started, wake: never},
			{at: sec(1), do: ended(passOK), wake: sec(61)},
			{at: sec(2), do: unwatched(true, true), wake: sec(61)},
		}},
		{name: "continuous without a local watch: always polled", c: continuous, sight: remoteServed, steps: []schedStep{
			{at: 0, do: started, wake: never},
			{at: sec(1), do: func(s schedule, _ time.Time) schedule { return s.Armed() }, wake: never},
			{at: sec(2), do: ended(passOK), wake: sec(62)},
		}},
		{name: "stop and resume: nothing due while stopped, a pass at resume", c: interval, steps: []schedStep{
			{at: 0, do: started, wake: never},
			{at: sec(1), do: ended(passFailed), wake: sec(31)},
			{at: sec(2), do: func(s schedule, _ time.Time) schedule { return s.Stop() }, wake: never},
			{at: min(5), wake: never},
			{at: min(5), do: func(s schedule, _ time.Time) schedule { return s.Reset() }, wake: never},
			{at: min(6), do: func(s schedule, now time.Time) schedule { return s.Resume(now) }, due: dueQueued, wake: never}, // the stop dropped the retry
		}},
		{name: "started stopped: the start pass waits for resume", c: continuous, stopped: true, watching: true, sight: remoteWatched, steps: []schedStep{
			{at: 0, wake: never},
			{at: sec(9), do: func(s schedule, now time.Time) schedule { return s.Resume(now) }, due: dueQueued, wake: never},
		}},
		{name: "cron: resume waits for the next fire time", c: cronly, steps: []schedStep{
			{at: 0, do: func(s schedule, _ time.Time) schedule { return s.Stop() }, wake: never},
			{at: min(20), do: func(s schedule, now time.Time) schedule { return s.Resume(now) }, wake: min(22.5)}, // 10:30
		}},
		{name: "reset: a pass unless stopped", c: cronly, steps: []schedStep{
			{at: 0, do: func(s schedule, _ time.Time) schedule { return s.Reset() }, due: dueQueued, wake: min(7.5)},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSchedule(c.c, t0, c.stopped, c.watching, c.sight, c.held)
			for i, st := range c.steps {
				now := t0.Add(st.at)
				if st.do != nil {
					s = st.do(s, now)
				}
				if got := s.Due(now); got != st.due {
					t.Errorf("step %d (+%s): due %b, want %b", i, st.at, got, st.due)
				}
				var want time.Time
				if st.wake != never {
					want = t0.Add(st.wake)
				}
				if got := s.Wake(); !got.Equal(want) {
					t.Errorf("step %d (+%s): wake %s, want %s", i, st.at, got, want)
				}
				wantNext := want
				if st.due != 0 {
					wantNext = now
				}
				if got := s.NextPass(now, true); !got.Equal(wantNext) {
					t.Errorf("step %d (+%s): next pass %s, want %s", i, st.at, got, wantNext)
				}
			}
		})
	}
}
