// Package agent runs every job of a config as a headless service: one
// goroutine per job schedules its passes (interval, cron schedule, or
// continuous with filesystem watches), shares one transfer queue across
// jobs, and reports each job's state for the control API.
//
// # Caveats
//
// A job's snapshot database is opened by its goroutine for as long as the
// job runs, and bbolt locks the file: a second agent (or a one-shot
// `ferry sync`) on the same state directory blocks until this one stops
// the job. Methods other than Jobs return an error until Run has started.
package agent
