package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/syncer"
)

// states are every agent.State, so a job's state gauge has one series per
// state and exactly one of them is 1.
var states = []agent.State{agent.Idle, agent.Scanning, agent.Transferring, agent.Halted, agent.Stopped}

// Label values, each set at zero for a job when it is first seen.
var (
	directions  = []string{"sent", "received"}
	fileResults = []string{"ok", "error"}
	reuseHows   = []string{"renamed", "copied"}
	passResults = []string{"done", "halted"}
)

// Build is what ferry_build_info says about the binary.
type Build struct {
	Version, Commit, GoVersion string
}

// Metrics holds ferry's collectors on a registry of its own. Safe for
// concurrent use; Observe never blocks on I/O.
type Metrics struct {
	reg  *prometheus.Registry
	now  func() time.Time
	link *linkCollector

	mu        sync.Mutex
	passStart map[string]time.Time
	jobs      map[string]bool // jobs seen in the last Update

	synced       *prometheus.CounterVec
	transferred  *prometheus.CounterVec
	files        *prometheus.CounterVec
	reused       *prometheus.CounterVec
	passes       *prometheus.CounterVec
	halts        *prometheus.CounterVec
	passDuration *prometheus.HistogramVec

	state     *prometheus.GaugeVec
	conflicts *prometheus.GaugeVec
	inFlight  *prometheus.GaugeVec
	nextPass  *prometheus.GaugeVec
}

// New returns metrics with no job yet. now may be nil (time.Now); it
// stamps events that carry no time.
func New(now func() time.Time, build Build) *Metrics {
	if now == nil {
		now = time.Now
	}
	job := []string{"job"}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "ferry", Name: name, Help: help}, append(job, labels...))
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "ferry", Name: name, Help: help}, append(job, labels...))
	}
	m := &Metrics{
		reg:       prometheus.NewRegistry(),
		now:       now,
		link:      newLinkCollector(),
		passStart: map[string]time.Time{},
		jobs:      map[string]bool{},

		synced:      counter("synced_bytes_total", "File content bytes brought in sync by transfers, by direction (sent: written to the remote, received: written locally), whether they crossed the link or the receiving side held them (block delta, resume).", "direction"),
		transferred: counter("transferred_bytes_total", "File content bytes that crossed the link, by direction; the part of ferry_synced_bytes_total that the receiving side did not already hold.", "direction"),
		files:       counter("files_transferred_total", "Files whose transfer finished, by result (ok or error).", "result"),
		reused:      counter("files_reused_total", "Files made on the receiving side from content it already held, sending nothing, by how (renamed or copied).", "how"),
		passes:      counter("passes_total", "Sync passes finished, by result (done or halted).", "result"),
		halts:       counter("halts_total", "Sync passes that halted on a safety check."),
		passDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "ferry", Name: "pass_duration_seconds", Help: "Wall time of sync passes, from first to last event.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2.5, 12), // 50 ms to about 3 h
		}, job),

		state:     gauge("job_state", "1 for the job's current state, 0 for the others.", "state"),
		conflicts: gauge("conflicts", "Unresolved conflicts."),
		inFlight:  gauge("transfers_in_flight", "Files being transferred now."),
		nextPass:  gauge("next_pass_timestamp_seconds", "Unix time of the next scheduled pass, 0 if none."),
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "ferry", Name: "build_info", Help: "Always 1; the labels say which ferry runs (as ferry --version does).",
		ConstLabels: prometheus.Labels{"version": build.Version, "commit": build.Commit, "go_version": build.GoVersion},
	})
	info.Set(1)
	m.reg.MustRegister(m.synced, m.transferred, m.files, m.reused, m.passes, m.halts, m.passDuration,
		m.state, m.conflicts, m.inFlight, m.nextPass, m.link, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the private registry, for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// HandlerWith is Handler that first calls Update(jobs()), so the gauges are
// as fresh as the scrape without a ticker.
func (m *Metrics) HandlerWith(jobs func() []agent.JobStatus) http.Handler {
	h := m.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.Update(jobs())
		h.ServeHTTP(w, r)
	})
}

// direction names the way bytes written to side to went.
func direction(to string) string {
	if to == syncer.SideRemote {
		return "sent"
	}
	return "received"
}

// Observe feeds one pass event of job; it fits agent.Options.Observer.
func (m *Metrics) Observe(job string, ev syncer.Event) {
	at := ev.Time
	if at.IsZero() {
		at = m.now()
	}
	if ev.Delta > 0 {
		dir := direction(ev.To)
		m.synced.WithLabelValues(job, dir).Add(float64(ev.Delta))
		if !ev.Reused {
			m.transferred.WithLabelValues(job, dir).Add(float64(ev.Delta))
		}
	}
	if ev.FileDone {
		result := "ok"
		if ev.Err != nil {
			result = "error"
		}
		m.files.WithLabelValues(job, result).Inc()
		if ev.Err == nil {
			switch ev.Op {
			case syncer.OpRename:
				m.reused.WithLabelValues(job, "renamed").Inc()
			case syncer.OpCopy:
				m.reused.WithLabelValues(job, "copied").Inc()
			}
		}
	}
	m.mu.Lock()
	start, running := m.passStart[job]
	if !running {
		m.passStart[job] = at
		start = at
	}
	finished := ev.Phase == syncer.PhaseDone || ev.Phase == syncer.PhaseHalted
	if finished {
		delete(m.passStart, job)
	}
	m.mu.Unlock()
	if !finished {
		return
	}
	m.passDuration.WithLabelValues(job).Observe(max(at.Sub(start), 0).Seconds())
	if ev.Phase == syncer.PhaseHalted {
		m.halts.WithLabelValues(job).Inc()
		m.passes.WithLabelValues(job, "halted").Inc()
		return
	}
	m.passes.WithLabelValues(job, "done").Inc()
}

// Track makes link the source of job's network figures: what it returns
// is read at each scrape. A later Track for the same job (the job's remote
// was made again) keeps what the earlier source counted and adds the new
// one's on top.
func (m *Metrics) Track(job string, link func() Link) { m.link.track(job, link) }

// Update sets the gauges from a status snapshot. A job seen for the first
// time gets every series at zero; jobs missing from it (a reload removed
// them) lose all their series.
func (m *Metrics) Update(jobs []agent.JobStatus) {
	seen := make(map[string]bool, len(jobs))
	m.mu.Lock()
	known := m.jobs
	m.mu.Unlock()
	for _, j := range jobs {
		seen[j.Name] = true
		if !known[j.Name] {
			m.zero(j.Name)
		}
		for _, s := range states {
			v := 0.0
			if s == j.State {
				v = 1
			}
			m.state.WithLabelValues(j.Name, string(s)).Set(v)
		}
		m.conflicts.WithLabelValues(j.Name).Set(float64(j.Conflicts))
		m.inFlight.WithLabelValues(j.Name).Set(float64(len(j.Transfers)))
		next := 0.0
		if !j.NextPass.IsZero() {
			next = float64(j.NextPass.UnixNano()) / 1e9
		}
		m.nextPass.WithLabelValues(j.Name).Set(next)
	}
	m.link.jobs(seen)
	m.mu.Lock()
	var gone []string
	for name := range m.jobs {
		if !seen[name] {
			gone = append(gone, name)
			delete(m.passStart, name)
		}
	}
	m.jobs = seen
	m.mu.Unlock()
	for _, name := range gone {
		m.forget(name)
	}
}

// zero makes every per-job series of job exist, at zero.
func (m *Metrics) zero(job string) {
	for _, d := range directions {
		m.synced.WithLabelValues(job, d)
		m.transferred.WithLabelValues(job, d)
	}
	for _, r := range fileResults {
		m.files.WithLabelValues(job, r)
	}
	for _, h := range reuseHows {
		m.reused.WithLabelValues(job, h)
	}
	for _, r := range passResults {
		m.passes.WithLabelValues(job, r)
	}
	m.halts.WithLabelValues(job)
	m.passDuration.WithLabelValues(job)
}

func (m *Metrics) forget(job string) {
	l := prometheus.Labels{"job": job}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.synced, m.transferred, m.files, m.reused, m.passes, m.halts, m.passDuration,
		m.state, m.conflicts, m.inFlight, m.nextPass,
	} {
		v.DeletePartialMatch(l)
	}
}
