package metrics

import (
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent"
)

// TestEverySeriesExistsAtZeroBeforeAnyEvent: a job named by the first
// status snapshot has every per-job series, at zero, so rate() and alerts
// work before its first event.
func TestEverySeriesExistsAtZeroBeforeAnyEvent(t *testing.T) {
	m := New(nil, Build{Version: "v1.2.3", Commit: "abc", GoVersion: "go1.26"})
	m.Update([]agent.JobStatus{{Name: "docs", State: agent.Idle}})
	f := scrape(t, m)
	for name, labels := range map[string][]map[string]string{
		"ferry_synced_bytes_total":          {{"direction": "sent"}, {"direction": "received"}},
		"ferry_transferred_bytes_total":     {{"direction": "sent"}, {"direction": "received"}},
		"ferry_link_bytes_total":            {{"direction": "sent"}, {"direction": "received"}},
		"ferry_files_transferred_total":     {{"result": "ok"}, {"result": "error"}},
		"ferry_files_reused_total":          {{"how": "renamed"}, {"how": "copied"}},
		"ferry_passes_total":                {{"result": "done"}, {"result": "halted"}},
		"ferry_halts_total":                 {{}},
		"ferry_pass_duration_seconds":       {{}},
		"ferry_retransmitted_bytes_total":   {{}},
		"ferry_lost_packets_total":          {{}},
		"ferry_rtt_seconds":                 {{}},
		"ferry_target_rate_bits_per_second": {{}},
		"ferry_conflicts":                   {{}},
		"ferry_transfers_in_flight":         {{}},
		"ferry_next_pass_timestamp_seconds": {{}},
	} {
		for _, l := range labels {
			l["job"] = "docs"
			expect(t, f, name, l, 0)
		}
	}
	expect(t, f, "ferry_job_state", map[string]string{"job": "docs", "state": "idle"}, 1)
	expect(t, f, "ferry_build_info", map[string]string{"version": "v1.2.3", "commit": "abc", "go_version": "go1.26"}, 1)
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if f[name] == nil {
			t.Errorf("%s is missing: the Go and process collectors are not registered", name)
		}
	}
}

// TestLinkFollowsTheJobsRemote: link counters come from the tracked
// source at each scrape, live UDP sessions give RTT and target rate, and a
// remote made again adds to what the earlier one counted.
func TestLinkFollowsTheJobsRemote(t *testing.T) {
	m := New(nil, Build{})
	m.Update([]agent.JobStatus{{Name: "docs"}})
	cur := Link{Sent: 1000, Received: 200, Retransmitted: 30, Lost: 2,
		Sessions: []Session{{RTT: 20 * time.Millisecond, Target: 60e6}, {RTT: 35 * time.Millisecond, Target: 40e6}}}
	m.Track("docs", func() Link { return cur })
	f := scrape(t, m)
	expect(t, f, "ferry_link_bytes_total", map[string]string{"job": "docs", "direction": "sent"}, 1000)
	expect(t, f, "ferry_link_bytes_total", map[string]string{"job": "docs", "direction": "received"}, 200)
	expect(t, f, "ferry_retransmitted_bytes_total", map[string]string{"job": "docs"}, 30)
	expect(t, f, "ferry_lost_packets_total", map[string]string{"job": "docs"}, 2)
	expect(t, f, "ferry_rtt_seconds", map[string]string{"job": "docs"}, 0.035)
	expect(t, f, "ferry_target_rate_bits_per_second", map[string]string{"job": "docs"}, 100e6)
	expect(t, f, "ferry_data_sessions", map[string]string{"job": "docs"}, 2)

	// The sessions end; the remote is made again and starts from zero.
	cur = Link{Sent: 1500, Received: 300}
	next := Link{Sent: 10}
	m.Track("docs", func() Link { return next })
	f = scrape(t, m)
	expect(t, f, "ferry_link_bytes_total", map[string]string{"job": "docs", "direction": "sent"}, 1510)
	expect(t, f, "ferry_link_bytes_total", map[string]string{"job": "docs", "direction": "received"}, 300)
	expect(t, f, "ferry_rtt_seconds", map[string]string{"job": "docs"}, 0)
	expect(t, f, "ferry_target_rate_bits_per_second", map[string]string{"job": "docs"}, 0)
	expect(t, f, "ferry_data_sessions", map[string]string{"job": "docs"}, 0)

	// A removed job loses its series.
	m.Update(nil)
	if _, ok := value(t, scrape(t, m), "ferry_link_bytes_total", map[string]string{"job": "docs"}); ok {
		t.Error("ferry_link_bytes_total still has a series for the removed job")
	}
}
