// Package metrics exposes ferry's per-job counters and gauges in the
// Prometheus text format, on a private registry fed from sync events
// (Observe), status snapshots (Update) and transport counters (AddTransport).
//
// Caveats: syncer.Event does not say which way a file moved, so file bytes
// are counted in both directions together (ferry_transferred_bytes_total);
// the per-direction network counters come only from AddTransport. Passes are
// timed from a job's first event to its done or halted event, so a pass that
// emits no event is not timed.
package metrics
