package agent

import (
	"time"

	"github.com/robfig/cron/v3"

	"github.com/ferry-sync/ferry/config"
)

// cadence is what a job's config says about when it syncs.
type cadence struct {
	mode     config.Mode
	interval time.Duration // interval mode; continuous mode's polling
	rescan   time.Duration // continuous mode: full rescan
	cron     cron.Schedule // schedule mode
	retry    config.Retry
}

func jobCadence(job config.Job, sched cron.Schedule) cadence {
	return cadence{mode: job.Mode, interval: job.Interval, rescan: job.RescanInterval, cron: sched, retry: job.Retry}
}

// remoteSight is how a continuous job sees changes on the remote side.
type remoteSight int

const (
	remotePolled  remoteSight = iota // only a pass sees them: poll every interval
	remoteWatched                    // a local folder the job watches itself
	remoteServed                     // ferry serve's watch, once armed
)

// passEnd is how a pass ended, as far as the schedule cares.
type passEnd int

const (
	passOK          passEnd = iota
	passHalted              // a safety check stopped it: no retry
	passFailed              // an error: retry after retry.interval
	passInterrupted         // cancelled (stop, reset, shutdown)
)

// dueWhy says what asks for a pass; zero when nothing does.
type dueWhy int

const (
	dueQueued  dueWhy = 1 << iota // SyncNow, start, resume, reset, lost events
	dueNext                       // the interval or cron time
	dueRetry                      // a retry after a failure
	dueRescan                     // continuous mode's full rescan
	duePoll                       // continuous mode's poll of what is not watched
	dueChanges                    // changes have been still for cooloff
)

// schedule decides when a job's next pass runs. It is a value: every
// event returns the next schedule, and nothing in it reads the clock or
// does I/O, so a table with explicit times tests it. The job's loop feeds
// it events and asks Due and Wake.
type schedule struct {
	c cadence

	stopped bool // no pass until Resume
	held    bool // a watched root is missing: no pass until it is back
	queued  bool

	next     time.Time // interval or cron pass
	retryAt  time.Time
	retries  int // left in the current failure streak
	rescanAt time.Time
	pollAt   time.Time
	settled  time.Time // the debouncer's due time

	watching  bool // the job watches its local root
	unwatched bool // some directories below its roots cannot be watched
	sight     remoteSight
	armed     bool // ferry serve watches the remote folder
}

// newSchedule is the schedule of a job starting at now. Interval and
// continuous jobs sync at start: changes made while the agent was down are
// not in any event.
func newSchedule(c cadence, now time.Time, stopped, watching bool, sight remoteSight, held bool) schedule {
	s := schedule{c: c, stopped: stopped, held: held, watching: watching, sight: sight, retries: c.retry.Attempts}
	if c.mode == config.Schedule {
		s.next = c.cron.Next(now)
	} else {
		s.queued = true
	}
	return s
}

func due(t, now time.Time) bool { return !t.IsZero() && !now.Before(t) }

// Due reports why a pass should start at now, if one should.
func (s schedule) Due(now time.Time) dueWhy {
	if s.stopped || s.held {
		return 0
	}
	var why dueWhy
	if s.queued {
		why |= dueQueued
	}
	for _, t := range []struct {
		at  time.Time
		why dueWhy
	}{{s.next, dueNext}, {s.retryAt, dueRetry}, {s.rescanAt, dueRescan}, {s.pollAt, duePoll}, {s.settled, dueChanges}} {
		if due(t.at, now) {
			why |= t.why
		}
	}
	return why
}

// Wake is the earliest time a pass is due on its own (zero if none is).
func (s schedule) Wake() time.Time {
	if s.stopped || s.held {
		return time.Time{}
	}
	var w time.Time
	for _, t := range []time.Time{s.next, s.retryAt, s.rescanAt, s.pollAt, s.settled} {
		if !t.IsZero() && (w.IsZero() || t.Before(w)) {
			w = t
		}
	}
	return w
}

// NextPass is when the next pass is expected, for status: now if one is
// due and none runs (idle).
func (s schedule) NextPass(now time.Time, idle bool) time.Time {
	if idle && s.Due(now) != 0 {
		return now
	}
	return s.Wake()
}

// Stopped reports whether the job is stopped.
func (s schedule) Stopped() bool { return s.stopped }

// Retrying reports whether a retry is set and how many are left after it.
func (s schedule) Retrying() (bool, int) { return !s.retryAt.IsZero(), s.retries }

// Start is the schedule once the pass due at now starts: what asked for
// it is answered, as its scan sees every change made so far.
func (s schedule) Start(now time.Time) schedule {
	if due(s.rescanAt, now) {
		s.rescanAt = time.Time{}
	}
	if due(s.next, now) {
		s.next = time.Time{}
	}
	if due(s.pollAt, now) {
		s.pollAt = time.Time{}
	}
	s.queued = false
	s.retryAt = time.Time{}
	s.settled = time.Time{}
	return s
}

// OnEnded schedules what follows a pass that ended at now.
func (s schedule) OnEnded(now time.Time, end passEnd) schedule {
	switch end {
	case passHalted, passOK:
		s.retries = s.c.retry.Attempts
	case passFailed:
		if s.retries > 0 {
			s.retries--
			s.retryAt = now.Add(s.c.retry.Interval)
		} else {
			// Give up until the next scheduled pass.
			s.retries = s.c.retry.Attempts
		}
	}
	if s.retryAt.IsZero() {
		switch s.c.mode {
		case config.Schedule:
			if s.next.IsZero() {
				s.next = s.c.cron.Next(now)
			}
		case config.Continuous:
			if s.polled() {
				s.pollAt = now.Add(s.c.interval)
			}
		default:
			s.next = now.Add(s.c.interval)
		}
	}
	if s.c.mode == config.Continuous {
		s.rescanAt = now.Add(s.c.rescan)
	}
	return s
}

// OnScopedEnded is OnEnded for a pass scoped to the changes it was told
// of: it looked at nothing else, so it does not answer the poll of what
// is not watched (a remote only a pass sees). The poll stays when it was
// set, counted from the last whole pass: a job whose local folder changes
// more often than its interval still polls the remote every interval.
func (s schedule) OnScopedEnded(now time.Time, end passEnd) schedule {
	poll := s.pollAt
	s = s.OnEnded(now, end)
	if !poll.IsZero() && s.polled() {
		s.pollAt = poll
	}
	return s
}

// polled reports whether some changes (the remote side, or directories
// that cannot be watched) are only seen by a pass.
func (s schedule) polled() bool {
	if !s.watching || s.unwatched {
		return true
	}
	switch s.sight {
	case remoteWatched:
		return false
	case remoteServed:
		return !s.armed
	}
	return true
}

// Ask queues a pass (SyncNow, lost events, a change without a debouncer).
func (s schedule) Ask() schedule {
	s.queued = true
	return s
}

// Reset queues the pass that follows a snapshot reset, unless stopped.
func (s schedule) Reset() schedule {
	s.queued = !s.stopped
	return s
}

// Changes takes the debouncer's due time (zero when nothing is pending).
func (s schedule) Changes(settled time.Time) schedule {
	s.settled = settled
	return s
}

// Stop holds every pass until Resume.
func (s schedule) Stop() schedule {
	if !s.stopped {
		s.stopped = true
		s.queued = false
		s.retryAt = time.Time{}
		s.settled = time.Time{}
	}
	return s
}

// Resume lets passes run again: a scheduled job waits for its next time,
// others sync at once, as changes made while stopped raised no event.
func (s schedule) Resume(now time.Time) schedule {
	if s.stopped {
		s.stopped = false
		if s.c.mode == config.Schedule {
			s.next = s.c.cron.Next(now)
		} else {
			s.queued = true
		}
	}
	return s
}

// Hold takes whether a watched root is missing. On a change, what was due
// is forgotten: a pass would fail while a root is gone, and the first one
// after its return scans everything.
func (s schedule) Hold(missing bool) schedule {
	if missing != s.held {
		s.held = missing
		s.queued = false
		s.retryAt, s.rescanAt, s.pollAt, s.settled = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	}
	return s
}

// Armed is ferry serve's watch of the remote folder taking over from
// polling.
func (s schedule) Armed() schedule {
	s.armed = true
	if !s.polled() {
		s.pollAt = time.Time{}
	}
	return s
}

// Disarmed is the server's watch ending with the kept remote.
func (s schedule) Disarmed() schedule {
	s.armed = false
	return s
}

// NoWatch is the server saying it cannot watch the remote folder: the job
// polls it every interval, starting now if no pass runs (idle).
func (s schedule) NoWatch(now time.Time, idle bool) schedule {
	s.armed = false
	if idle && s.pollAt.IsZero() && !s.stopped {
		s.pollAt = now.Add(s.c.interval)
	}
	return s
}

// Unwatched takes whether some directories below the watched roots cannot
// be watched (the inotify watch limit): while some cannot, their changes
// are seen only by a pass, so a continuous job polls every interval,
// starting now if no pass runs (idle); once every one is watched, polling
// stops unless the remote side needs it.
func (s schedule) Unwatched(now time.Time, idle, unwatched bool) schedule {
	if s.c.mode != config.Continuous {
		return s
	}
	s.unwatched = unwatched
	switch {
	case !s.polled():
		s.pollAt = time.Time{}
	case idle && s.pollAt.IsZero() && !s.stopped:
		s.pollAt = now.Add(s.c.interval)
	}
	return s
}
