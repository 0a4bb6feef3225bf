package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ferry-sync/ferry/internal/logcheck"
)

// addrLog is `ferry run`'s stderr: it hands over the activity page's
// address as soon as the start line is written.
type addrLog struct {
	mu   sync.Mutex
	b    strings.Builder
	addr chan string
	sent bool
}

var activityPage = regexp.MustCompile(`activity page http://(\S+)/`)

func (l *addrLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	if m := activityPage.FindStringSubmatch(l.b.String()); m != nil && !l.sent {
		l.sent = true
		l.addr <- m[1]
	}
	return len(p), nil
}

func (l *addrLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// readmeMetrics returns the metric names in the README's metrics table.
func readmeMetrics(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	row := regexp.MustCompile("^\\| `(ferry_[a-z_]+)[{`]")
	for _, l := range strings.Split(string(b), "\n") {
		if m := row.FindStringSubmatch(l); m != nil {
			names[m[1]] = true
		}
	}
	if len(names) < 10 {
		t.Fatalf("found only %d metrics in the README's table: %v", len(names), names)
	}
	return names
}

func scrapeMetrics(t *testing.T, ctx context.Context, addr string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var text strings.Builder
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(teeReader{resp.Body, &text})
	if err != nil {
		t.Fatalf("unable to parse /metrics: %v", err)
	}
	return fams, text.String()
}

type teeReader struct {
	r interface{ Read([]byte) (int, error) }
	w *strings.Builder
}

func (t teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.w.Write(p[:n])
	return n, err
}

// sample is the value of family name's series with labels (and job="j").
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	want := map[string]string{"job": "j"}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// checkREADME: every metric the README lists is exported, and every
// ferry_* family exported is listed.
func checkREADME(t *testing.T, listed map[string]bool, fams map[string]*dto.MetricFamily) {
	t.Helper()
	for name := range listed {
		if fams[name] == nil {
			t.Errorf("the README lists %s, which the agent does not export", name)
		}
	}
	for name := range fams {
		if strings.HasPrefix(name, "ferry_") && !listed[name] {
			t.Errorf("the agent exports %s, which the README does not list", name)
		}
	}
}

// seriesList is what `curl /metrics | grep ^ferry_ | cut -d' ' -f1 | sort -u` prints.
func seriesList(text string) string {
	var out []string
	seen := map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, "ferry_") {
			continue
		}
		s := strings.Fields(l)[0]
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// TestMetricsListedInTheREADMEAreTheOnesExported drives `ferry run` with a
// real `ferry serve` (UDP). Before any pass, every series the README lists
// is there for the job, at zero; a capped upload shows RTT and target
// rate while it runs; after it, the byte counters hold what moved; and
// ferry.log has one summary line for the pass and no key twice in a line.
func TestMetricsListedInTheREADMEAreTheOnesExported(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	listed := readmeMetrics(t)
	s := startServedJob(t, ctx)
	const size = 3 << 20
	writeBig(t, filepath.Join(s.local, "up.bin"), size)
	// No pass runs until asked: the schedule's next pass is a year away.
	cfgPath := s.jobs(t, "    direction: local-to-remote\n    mode: schedule\n    schedule: \"@yearly\"\n"+
		"    bandwidth: {upload: 8000000, target_rate: 6000000}\n")

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan int, 1)
	stderr := &addrLog{addr: make(chan string, 1)}
	go func() {
		done <- run(runCtx, &env{stdout: stderr, stderr: stderr}, []string{"run", "--http", "127.0.0.1:0", "--accept-new-host-key", "--config", cfgPath})
	}()
	shutdown := sync.OnceFunc(func() {
		stop()
		<-done
	})
	defer shutdown()
	var addr string
	select {
	case addr = <-stderr.addr:
	case code := <-done:
		t.Fatalf("ferry run exited %d:\n%s", code, stderr.String())
	case <-ctx.Done():
		t.Fatalf("ferry run did not start:\n%s", stderr.String())
	}

	fams, _ := scrapeMetrics(t, ctx, addr)
	checkREADME(t, listed, fams)
	for name, f := range fams {
		if !strings.HasPrefix(name, "ferry_") || name == "ferry_build_info" || name == "ferry_job_state" ||
			name == "ferry_next_pass_timestamp_seconds" {
			continue
		}
		for _, m := range f.Metric {
			if v, _ := sample(map[string]*dto.MetricFamily{name: {Metric: []*dto.Metric{m}}}, name); v != 0 {
				t.Errorf("before any pass, %s%v = %v, want 0", name, m.Label, v)
			}
		}
		if _, ok := sample(fams, name); !ok {
			t.Errorf("before any pass, %s has no series for job j", name)
		}
	}
	if v, ok := sample(fams, "ferry_passes_total", "result", "done"); !ok || v != 0 {
		t.Errorf("before any pass, ferry_passes_total{result=done} = %v (present %v), want 0", v, ok)
	}
	if v, ok := sample(fams, "ferry_job_state", "state", "idle"); !ok || v != 1 {
		t.Errorf("ferry_job_state{state=idle} = %v (present %v), want 1", v, ok)
	}
	if f := fams["ferry_build_info"]; f == nil || len(f.Metric) != 1 {
		t.Errorf("ferry_build_info: %v", f)
	} else {
		l := map[string]string{}
		for _, p := range f.Metric[0].Label {
			l[p.GetName()] = p.GetValue()
		}
		if want := fmt.Sprintf("ferry %s (commit %s, %s)", l["version"], l["commit"], l["go_version"]); want != versionLine() {
			t.Errorf("ferry_build_info says %q, ferry --version %q", want, versionLine())
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if fams[name] == nil {
			t.Errorf("%s missing: no Go or process collector", name)
		}
	}

	passed := make(chan string, 1)
	go func() {
		code, out, errOut := runCLI(t, ctx, "sync-now", "--wait", "--config", cfgPath, "j")
		passed <- fmt.Sprintf("exit %d\n%s%s", code, out, errOut)
	}()
	// While the upload runs, its UDP session's RTT and target rate show.
	var live bool
	var result string
	for result == "" {
		f, _ := scrapeMetrics(t, ctx, addr)
		rtt, _ := sample(f, "ferry_rtt_seconds")
		target, _ := sample(f, "ferry_target_rate_bits_per_second")
		sessions, _ := sample(f, "ferry_data_sessions")
		if rtt > 0 && target == 6e6 && sessions == 1 {
			live = true
		}
		select {
		case result = <-passed:
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("the pass did not end")
		}
	}
	if !strings.HasPrefix(result, "exit 0\n") {
		t.Fatalf("sync-now --wait: %s", result)
	}
	if !live {
		t.Error("no scrape during the upload showed an RTT, the target rate 6e6 and one data session")
	}

	fams, text := scrapeMetrics(t, ctx, addr)
	checkREADME(t, listed, fams)
	for _, c := range []struct {
		name   string
		labels []string
		min    float64
		max    float64
	}{
		{"ferry_passes_total", []string{"result", "done"}, 1, 1},
		{"ferry_files_transferred_total", []string{"result", "ok"}, 1, 1},
		{"ferry_synced_bytes_total", []string{"direction", "sent"}, size, size},
		{"ferry_transferred_bytes_total", []string{"direction", "sent"}, size, size},
		{"ferry_synced_bytes_total", []string{"direction", "received"}, 0, 0},
		{"ferry_link_bytes_total", []string{"direction", "sent"}, size, 2 * size},
		{"ferry_link_bytes_total", []string{"direction", "received"}, 1, size / 4},
		{"ferry_pass_duration_seconds", nil, 1, 1},
		{"ferry_rtt_seconds", nil, 0, 0},
		{"ferry_target_rate_bits_per_second", nil, 0, 0},
		{"ferry_data_sessions", nil, 0, 0},
	} {
		if v, ok := sample(fams, c.name, c.labels...); !ok || v < c.min || v > c.max {
			t.Errorf("after the pass, %s%v = %v (present %v), want %v..%v", c.name, c.labels, v, ok, c.min, c.max)
		}
	}
	t.Logf("curl /metrics | grep ^ferry_ | cut -d' ' -f1 | sort -u:\n%s", seriesList(text))

	shutdown()
	f, err := os.Open(filepath.Join(s.dir, "state", "logs", "ferry.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	summaries := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		dups, err := logcheck.DuplicateKeys([]byte(line))
		if err != nil || len(dups) > 0 {
			t.Errorf("ferry.log line has keys %v twice (%v): %s", dups, err, line)
		}
		if strings.Contains(line, `"msg":"pass finished"`) {
			summaries++
			for _, want := range []string{`"job":"j"`, `"result":"done"`, `"created":1`, fmt.Sprintf(`"bytes":%d`, size), `"seconds":`} {
				if !strings.Contains(line, want) {
					t.Errorf("the pass summary lacks %s: %s", want, line)
				}
			}
		}
	}
	if summaries != 1 {
		t.Errorf("ferry.log has %d pass summaries, want 1", summaries)
	}
}
