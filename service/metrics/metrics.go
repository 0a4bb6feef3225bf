package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/syncer"
)

// states are every agent.State, so a job's state gauge has one series per
// state and exactly one of them is 1.
var states = []agent.State{agent.Idle, agent.Scanning, agent.Transferring, agent.Halted, agent.Stopped}

// TransportDelta is what a transfer moved on the network since it last
// reported.
type TransportDelta struct {
	SentBytes, ReceivedBytes int64
	Retransmits, Lost        int64 // packets
}

// Metrics holds ferry's collectors on a registry of its own. Safe for
// concurrent use; Observe never blocks on I/O.
type Metrics struct {
	reg *prometheus.Registry
	now func() time.Time

	mu        sync.Mutex
	passStart map[string]time.Time
	jobs      map[string]bool // jobs seen in the last Update

	fileBytes    *prometheus.CounterVec
	inSync       *prometheus.CounterVec
	files        *prometheus.CounterVec
	reused       *prometheus.CounterVec
	passes       *prometheus.CounterVec
	halts        *prometheus.CounterVec
	passDuration *prometheus.HistogramVec
	sent         *prometheus.CounterVec
	received     *prometheus.CounterVec
	retransmits  *prometheus.CounterVec
	lost         *prometheus.CounterVec

	state      *prometheus.GaugeVec
	conflicts  *prometheus.GaugeVec
	rate       *prometheus.GaugeVec
	targetRate *prometheus.GaugeVec
	rtt        *prometheus.GaugeVec
	retxRatio  *prometheus.GaugeVec
	inFlight   *prometheus.GaugeVec
	sessions   *prometheus.GaugeVec
	nextPass   *prometheus.GaugeVec
}

// New returns empty metrics. now may be nil (time.Now); it stamps events
// that carry no time.
func New(now func() time.Time) *Metrics {
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
		passStart: map[string]time.Time{},
		jobs:      map[string]bool{},

		fileBytes: counter("transferred_bytes_total", "File content bytes sent by sync passes, both directions."),
		inSync:    counter("in_sync_bytes_total", "File content bytes brought in sync by transfers, sent or taken from content the receiving side held (block delta)."),
		files:     counter("files_transferred_total", "Files whose transfer finished, by result (ok or error).", "result"),
		reused:    counter("files_reused_total", "Files made on the receiving side from content it already held, sending nothing, by how (renamed or copied).", "how"),
		passes:    counter("passes_total", "Sync passes finished, by result (done or halted).", "result"),
		halts:     counter("halts_total", "Sync passes that halted on a safety check."),
		passDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "ferry", Name: "pass_duration_seconds", Help: "Wall time of sync passes, from first to last event.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2.5, 12), // 50 ms to about 3 h
		}, job),
		sent:        counter("sent_bytes_total", "Bytes the transport sent on the network, retransmissions included."),
		received:    counter("received_bytes_total", "Bytes the transport received from the network."),
		retransmits: counter("retransmitted_packets_total", "Data packets the transport sent again."),
		lost:        counter("lost_packets_total", "Data packets the transport judged lost."),

		state:      gauge("job_state", "1 for the job's current state, 0 for the others.", "state"),
		conflicts:  gauge("conflicts", "Unresolved conflicts."),
		rate:       gauge("transfer_rate_bits_per_second", "Recent transfer rate of the current pass."),
		targetRate: gauge("target_rate_bits_per_second", "Sum of the target rates of transfers in flight."),
		rtt:        gauge("rtt_seconds", "Largest smoothed round-trip time among transfers in flight."),
		retxRatio:  gauge("retransmit_ratio", "Largest share of retransmitted packets among transfers in flight (0..1)."),
		inFlight:   gauge("transfers_in_flight", "Files being transferred now."),
		sessions:   gauge("data_sessions", "UDP data sessions the job's transfers run on at once (its sessions key)."),
		nextPass:   gauge("next_pass_timestamp_seconds", "Unix time of the next scheduled pass, 0 if none."),
	}
	m.reg.MustRegister(m.fileBytes, m.inSync, m.files, m.reused, m.passes, m.halts, m.passDuration, m.sent, m.received, m.retransmits, m.lost,
		m.state, m.conflicts, m.rate, m.targetRate, m.rtt, m.retxRatio, m.inFlight, m.nextPass, m.sessions)
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

// Observe feeds one pass event of job; it fits agent.Options.Observer.
func (m *Metrics) Observe(job string, ev syncer.Event) {
	at := ev.Time
	if at.IsZero() {
		at = m.now()
	}
	if ev.Delta > 0 {
		m.inSync.WithLabelValues(job).Add(float64(ev.Delta))
		if !ev.Reused {
			m.fileBytes.WithLabelValues(job).Add(float64(ev.Delta))
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

// AddTransport adds what a transfer of job moved on the network.
func (m *Metrics) AddTransport(job string, d TransportDelta) {
	add := func(c *prometheus.CounterVec, v int64) {
		if v > 0 {
			c.WithLabelValues(job).Add(float64(v))
		}
	}
	add(m.sent, d.SentBytes)
	add(m.received, d.ReceivedBytes)
	add(m.retransmits, d.Retransmits)
	add(m.lost, d.Lost)
}

// Update sets the gauges from a status snapshot. Jobs missing from it (a
// reload removed them) lose all their series.
func (m *Metrics) Update(jobs []agent.JobStatus) {
	seen := make(map[string]bool, len(jobs))
	for _, j := range jobs {
		seen[j.Name] = true
		for _, s := range states {
			v := 0.0
			if s == j.State {
				v = 1
			}
			m.state.WithLabelValues(j.Name, string(s)).Set(v)
		}
		m.conflicts.WithLabelValues(j.Name).Set(float64(j.Conflicts))
		m.rate.WithLabelValues(j.Name).Set(j.Progress.Rate)
		var target, retx float64
		var rtt time.Duration
		for _, t := range j.Transfers {
			target += t.TargetRate
			rtt = max(rtt, t.RTT)
			retx = max(retx, t.RetransmitPct/100)
		}
		m.targetRate.WithLabelValues(j.Name).Set(target)
		m.rtt.WithLabelValues(j.Name).Set(rtt.Seconds())
		m.retxRatio.WithLabelValues(j.Name).Set(retx)
		m.inFlight.WithLabelValues(j.Name).Set(float64(len(j.Transfers)))
		m.sessions.WithLabelValues(j.Name).Set(float64(j.Sessions))
		next := 0.0
		if !j.NextPass.IsZero() {
			next = float64(j.NextPass.UnixNano()) / 1e9
		}
		m.nextPass.WithLabelValues(j.Name).Set(next)
	}
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

func (m *Metrics) forget(job string) {
	l := prometheus.Labels{"job": job}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.fileBytes, m.inSync, m.files, m.reused, m.passes, m.halts, m.passDuration, m.sent, m.received, m.retransmits, m.lost,
		m.state, m.conflicts, m.rate, m.targetRate, m.rtt, m.retxRatio, m.inFlight, m.nextPass, m.sessions,
	} {
		v.DeletePartialMatch(l)
	}
}
