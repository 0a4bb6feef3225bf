package metrics

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Link is what a job's remote has moved on the network since it was made
// (every count only grows), and its UDP data sessions running now.
type Link struct {
	Sent, Received      uint64 // bytes on the network, SSH and UDP
	Retransmitted, Lost uint64 // file bytes sent again; packets judged lost
	Sessions            []Session
}

// Session is one UDP data session running now.
type Session struct {
	RTT    time.Duration // smoothed round-trip time
	Target float64       // target rate, bit/s
}

// counts are a Link's counters.
type counts struct{ sent, received, retransmitted, lost uint64 }

func (c counts) plus(l Link) counts {
	return counts{c.sent + l.Sent, c.received + l.Received, c.retransmitted + l.Retransmitted, c.lost + l.Lost}
}

// atLeast keeps each count from going down: a source read while it is
// being replaced must not make a counter reset.
func (c counts) atLeast(o counts) counts {
	return counts{max(c.sent, o.sent), max(c.received, o.received), max(c.retransmitted, o.retransmitted), max(c.lost, o.lost)}
}

// linkJob is one job's sources: what replaced sources counted (base), the
// current one, and what was last reported.
type linkJob struct {
	base counts
	src  func() Link
	last counts
}

// linkCollector reads each job's Link at scrape time.
type linkCollector struct {
	bytes, retransmitted, lost, rtt, target, sessions *prometheus.Desc

	mu    sync.Mutex
	byJob map[string]*linkJob
}

var _ prometheus.Collector = (*linkCollector)(nil)

func newLinkCollector() *linkCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("ferry", "", name), help, append([]string{"job"}, labels...), nil)
	}
	return &linkCollector{
		bytes:         desc("link_bytes_total", "Bytes on the network to and from the job's ferry serve (the SSH connection and UDP data sessions, headers and retransmissions included), by direction (sent or received).", "direction"),
		retransmitted: desc("retransmitted_bytes_total", "File bytes the UDP transport sent again."),
		lost:          desc("lost_packets_total", "UDP data packets the sender judged lost."),
		rtt:           desc("rtt_seconds", "Largest smoothed round-trip time among the UDP data sessions running now; 0 when none runs."),
		target:        desc("target_rate_bits_per_second", "Sum of the target rates of the UDP data sessions running now; 0 when none runs."),
		sessions:      desc("data_sessions", "UDP data sessions running now (up to the job's sessions key during a transfer); 0 when none runs."),
		byJob:         map[string]*linkJob{},
	}
}

func (c *linkCollector) track(job string, src func() Link) {
	c.mu.Lock()
	defer c.mu.Unlock()
	j := c.job(job)
	if j.src != nil {
		j.base = j.base.plus(j.src()).atLeast(j.last)
	}
	j.src = src
}

func (c *linkCollector) job(name string) *linkJob {
	j := c.byJob[name]
	if j == nil {
		j = &linkJob{}
		c.byJob[name] = j
	}
	return j
}

// jobs makes the configured jobs the ones reported: new ones at zero, and
// removed ones dropped.
func (c *linkCollector) jobs(seen map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name := range seen {
		c.job(name)
	}
	for name := range c.byJob {
		if !seen[name] {
			delete(c.byJob, name)
		}
	}
}

func (c *linkCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.bytes, c.retransmitted, c.lost, c.rtt, c.target, c.sessions} {
		ch <- d
	}
}

func (c *linkCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.byJob))
	for name := range c.byJob {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		j := c.byJob[name]
		now, live := j.base, Link{}
		if j.src != nil {
			live = j.src()
			now = now.plus(live)
		}
		now = now.atLeast(j.last)
		j.last = now
		var rtt time.Duration
		var target float64
		for _, s := range live.Sessions {
			rtt = max(rtt, s.RTT)
			target += s.Target
		}
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(now.sent), name, "sent")
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(now.received), name, "received")
		ch <- prometheus.MustNewConstMetric(c.retransmitted, prometheus.CounterValue, float64(now.retransmitted), name)
		ch <- prometheus.MustNewConstMetric(c.lost, prometheus.CounterValue, float64(now.lost), name)
		ch <- prometheus.MustNewConstMetric(c.rtt, prometheus.GaugeValue, rtt.Seconds(), name)
		ch <- prometheus.MustNewConstMetric(c.target, prometheus.GaugeValue, target, name)
		ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(len(live.Sessions)), name)
	}
}
