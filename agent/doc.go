// Package agent runs every job of a config as a headless service: one
// goroutine per job schedules its passes (interval, cron schedule, or
// continuous with filesystem watches), all jobs share one transfer queue
// (Slots), and Jobs reports each job's state for the control API.
//
// # Caveats
//
// A job's snapshot database stays open while the job runs and bbolt locks
// it: a one-shot `ferry sync` of the same job waits for the lock and fails
// after a second. Methods other than Jobs and Reload return ErrNotRunning
// until Run has started.
//
// In continuous mode a pass waits until every changed path has been still
// for cooloff, but at most max(60×cooloff, 1 minute) after the first
// change, so a file that is never still (a log) is still synced. The
// writes a pass makes raise events too; one for a path the pass wrote is
// dropped while that path is exactly as the pass left it (kind, size,
// mtime, permissions), which costs one read of the snapshot per pass that
// wrote. A watched root that goes missing holds the job (shown as halted)
// until it is back; the roots are looked at every 2 seconds, since a mount
// or an unmount raises no event. Directories that cannot be watched (the
// inotify watch limit) raise no event either: while there are any, the job
// polls every interval, and each poll tries to watch them again.
//
// SetBandwidth lasts until the job restarts (a reload that changes the job,
// or a new agent); the next bandwidth.schedule rule to fire overrides it.
package agent
