// Package metrics exposes ferry's per-job counters and gauges in the
// Prometheus text format, on a private registry fed from sync events
// (Observe), status snapshots (Update) and the network traffic of each
// job's remote (Track), with the Go and process collectors and
// ferry_build_info beside them.
//
// Every per-job series exists at zero from the first Update that names the
// job, so rate() and alerts work before the first event.
//
// Caveats: passes are timed from a job's first event to its done or halted
// event, so a pass that emits no event is not timed. A job whose remote is a
// local folder has no link: its link counters stay at zero.
package metrics
