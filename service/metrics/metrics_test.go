package metrics

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/syncer"
)

// scrape fetches /metrics through the handler and parses the text format.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("unable to parse /metrics: %v", err)
	}
	return fams
}

// value finds the sample of family name whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, mt := range f.Metric {
		labels := map[string]string{}
		for _, l := range mt.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case mt.Counter != nil:
			return mt.Counter.GetValue(), true
		case mt.Gauge != nil:
			return mt.Gauge.GetValue(), true
		case mt.Histogram != nil:
			return float64(mt.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func expect(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := value(t, fams, name, labels)
	if !ok || got != want {
		t.Errorf("%s%v = %v (present %v), want %v", name, labels, got, ok, want)
	}
}

func TestEventsFeedCounters(t *testing.T) {
	m := New(nil, Build{})
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	for _, ev := range []syncer.Event{
		{Time: t0, Phase: syncer.PhaseScanning},
		{Time: t0.Add(time.Second), Phase: syncer.PhaseTransferring, Path: "a", Delta: 1000, To: syncer.SideRemote},
		{Time: t0.Add(2 * time.Second), Phase: syncer.PhaseTransferring, Path: "a", Delta: 500, To: syncer.SideRemote, FileDone: true},
		{Time: t0.Add(3 * time.Second), Phase: syncer.PhaseTransferring, Path: "b", FileDone: true, Err: errors.New("no space")},
		{Time: t0.Add(3 * time.Second), Phase: syncer.PhaseTransferring, Path: "big", Delta: 4000, Reused: true, To: syncer.SideLocal},
		{Time: t0.Add(3 * time.Second), Phase: syncer.PhaseTransferring, Path: "big", Delta: 100, To: syncer.SideLocal},
		{Time: t0.Add(3 * time.Second), Phase: syncer.PhaseTransferring, Path: "c", FileDone: true, Op: syncer.OpRename, From: "old"},
		{Time: t0.Add(3 * time.Second), Phase: syncer.PhaseTransferring, Path: "d", FileDone: true, Op: syncer.OpCopy, From: "c"},
		{Time: t0.Add(3 * time.Second), Phase: syncer.PhaseTransferring, Path: "e", FileDone: true, Op: syncer.OpCopy, From: "c", Err: errors.New("changed")},
		{Time: t0.Add(4 * time.Second), Phase: syncer.PhaseDone},
		// The next pass halts at once.
		{Time: t0.Add(time.Minute), Phase: syncer.PhaseScanning},
		{Time: t0.Add(time.Minute + 200*time.Millisecond), Phase: syncer.PhaseHalted},
	} {
		m.Observe("docs", ev)
	}
	m.Observe("photos", syncer.Event{Time: t0, Phase: syncer.PhaseTransferring, Delta: 7, To: syncer.SideRemote})

	f := scrape(t, m)
	job := map[string]string{"job": "docs"}
	sent := map[string]string{"job": "docs", "direction": "sent"}
	received := map[string]string{"job": "docs", "direction": "received"}
	expect(t, f, "ferry_transferred_bytes_total", sent, 1500)
	expect(t, f, "ferry_transferred_bytes_total", received, 100)
	expect(t, f, "ferry_synced_bytes_total", sent, 1500)
	expect(t, f, "ferry_synced_bytes_total", received, 4100)
	expect(t, f, "ferry_transferred_bytes_total", map[string]string{"job": "photos", "direction": "sent"}, 7)
	expect(t, f, "ferry_files_transferred_total", map[string]string{"job": "docs", "result": "ok"}, 3)
	expect(t, f, "ferry_files_transferred_total", map[string]string{"job": "docs", "result": "error"}, 2)
	expect(t, f, "ferry_files_reused_total", map[string]string{"job": "docs", "how": "renamed"}, 1)
	expect(t, f, "ferry_files_reused_total", map[string]string{"job": "docs", "how": "copied"}, 1)
	expect(t, f, "ferry_halts_total", job, 1)
	expect(t, f, "ferry_passes_total", map[string]string{"job": "docs", "result": "done"}, 1)
	expect(t, f, "ferry_passes_total", map[string]string{"job": "docs", "result": "halted"}, 1)
	expect(t, f, "ferry_pass_duration_seconds", job, 2) // sample count

	h := f["ferry_pass_duration_seconds"].Metric[0].Histogram
	if got := h.GetSampleSum(); got < 4.199 || got > 4.201 {
		t.Errorf("pass durations sum to %vs, want 4.2s (4s + 200ms)", got)
	}
}

func TestStatusFeedsGaugesAndForgetsRemovedJobs(t *testing.T) {
	m := New(nil, Build{})
	next := time.Unix(1_800_000_000, 0)
	m.Update([]agent.JobStatus{
		{Name: "docs", State: agent.Transferring, Conflicts: 2, NextPass: next,
			Transfers: []agent.TransferStatus{{Path: "a"}, {Path: "b"}}},
		{Name: "mail", State: agent.Halted},
	})
	m.Observe("mail", syncer.Event{Phase: syncer.PhaseTransferring, Delta: 5})
	f := scrape(t, m)
	docs := map[string]string{"job": "docs"}
	expect(t, f, "ferry_job_state", map[string]string{"job": "docs", "state": "transferring"}, 1)
	expect(t, f, "ferry_job_state", map[string]string{"job": "docs", "state": "idle"}, 0)
	expect(t, f, "ferry_job_state", map[string]string{"job": "mail", "state": "halted"}, 1)
	expect(t, f, "ferry_conflicts", docs, 2)
	expect(t, f, "ferry_transfers_in_flight", docs, 2)
	expect(t, f, "ferry_next_pass_timestamp_seconds", docs, 1.8e9)

	m.Update([]agent.JobStatus{{Name: "docs", State: agent.Idle}})
	f = scrape(t, m)
	expect(t, f, "ferry_job_state", map[string]string{"job": "docs", "state": "idle"}, 1)
	expect(t, f, "ferry_transfers_in_flight", docs, 0)
	for _, name := range []string{"ferry_job_state", "ferry_transferred_bytes_total"} {
		if _, ok := value(t, f, name, map[string]string{"job": "mail"}); ok {
			t.Errorf("%s still has a series for the removed job mail", name)
		}
	}
}

func TestConcurrentObserve(t *testing.T) {
	m := New(nil, Build{})
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 1000 {
				m.Observe("docs", syncer.Event{Phase: syncer.PhaseTransferring, Delta: 1})
				if i%100 == 99 {
					m.Observe("docs", syncer.Event{Phase: syncer.PhaseDone})
				}
				if g == 0 && i%250 == 0 {
					m.Update([]agent.JobStatus{{Name: "docs"}})
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	expect(t, scrape(t, m), "ferry_transferred_bytes_total", map[string]string{"job": "docs", "direction": "received"}, 4000)
}

func TestHandlerWithUpdatesOnScrape(t *testing.T) {
	m := New(nil, Build{})
	state := agent.Idle
	h := m.HandlerWith(func() []agent.JobStatus { return []agent.JobStatus{{Name: "docs", State: state}} })
	get := func() map[string]*dto.MetricFamily {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		p := expfmt.NewTextParser(model.UTF8Validation)
		f, err := p.TextToMetricFamilies(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	expect(t, get(), "ferry_job_state", map[string]string{"job": "docs", "state": "idle"}, 1)
	state = agent.Stopped
	expect(t, get(), "ferry_job_state", map[string]string{"job": "docs", "state": "stopped"}, 1)
}
