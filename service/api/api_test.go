package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/conflict"
	"github.com/ferry-sync/ferry/service/api/apitest"
)

const testToken = "0123456789abcdef0123"

// The real agent is what cmd/ferry hands to NewHandler.
var _ Controller = (*agent.Agent)(nil)

func fixture() *apitest.Fake {
	return apitest.New([]agent.JobStatus{
		{Name: "docs", State: agent.Transferring, Bandwidth: config.Bandwidth{Upload: 5_000_000, Download: 7_000_000, Policy: config.Fair,
			Schedule: []config.BandwidthRule{{Cron: "0 8 * * *"}}}},
		{Name: "photos", State: agent.Idle},
	}, map[string][]conflict.Record{
		"photos": {{Path: "a.jpg", Reason: conflict.BothModified}, {Path: "b.jpg", Reason: conflict.TypeClash}},
	})
}

// serve starts the handler on a loopback TCP listener and returns its
// address.
func serve(t *testing.T, c Controller, opts Options) string {
	t.Helper()
	l, err := ListenTCP("127.0.0.1:0", opts.Token)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, NewHandler(c, opts)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// raw sends one request and returns status and body.
func raw(t *testing.T, method, url, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var ferryHdr = map[string]string{RequestHeader: "1"}

func TestClientDrivesJobs(t *testing.T) {
	f := fixture()
	c := NewClient(serve(t, f, Options{}), "")
	ctx := context.Background()

	jobs, err := c.Jobs(ctx)
	if err != nil || len(jobs) != 2 || jobs[0].Name != "docs" || jobs[1].Conflicts != 2 {
		t.Fatalf("Jobs = %+v, %v", jobs, err)
	}
	j, err := c.Stop(ctx, "docs")
	if err != nil || j.State != agent.Stopped {
		t.Fatalf("Stop = %+v, %v", j, err)
	}
	if j, err = c.Resume(ctx, "docs"); err != nil || j.State != agent.Idle {
		t.Fatalf("Resume = %+v, %v", j, err)
	}
	if j, err = c.SyncNow(ctx, "docs"); err != nil || j.State != agent.Scanning {
		t.Fatalf("SyncNow = %+v, %v", j, err)
	}
	recs, err := c.Conflicts(ctx, "photos")
	if err != nil || len(recs) != 2 {
		t.Fatalf("Conflicts = %+v, %v", recs, err)
	}
	if j, err = c.Resolve(ctx, "photos", []string{"a.jpg"}); err != nil || j.Conflicts != 1 {
		t.Fatalf("Resolve = %+v, %v", j, err)
	}
	if j, err = c.ResetSync(ctx, "photos"); err != nil || j.Conflicts != 0 {
		t.Fatalf("ResetSync = %+v, %v", j, err)
	}
	want := []string{"stop docs", "resume docs", "sync-now docs", "resolve photos", "reset-sync photos"}
	if got := f.Calls(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("calls = %q, want %q", got, want)
	}
}

func TestUnknownJobIs404(t *testing.T) {
	c := NewClient(serve(t, fixture(), Options{}), "")
	_, err := c.Stop(context.Background(), "nope")
	var ae *Error
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &ae) || !strings.Contains(ae.Message, `"nope"`) {
		t.Fatalf("Stop(nope) = %v, want a 404 naming the job", err)
	}
	if _, err := c.Job(context.Background(), "a/b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Job(a/b) = %v, want 404", err)
	}
}

func TestRefusedActionIs409(t *testing.T) {
	f := fixture()
	c := NewClient(serve(t, f, Options{}), "")
	_, err := c.Resume(context.Background(), "photos") // idle, not stopped
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || !strings.Contains(ae.Message, "not stopped") {
		t.Fatalf("Resume(idle) = %v, want 409 with the agent's reason", err)
	}
}

func TestAgentErrorsMapToStatus(t *testing.T) {
	f := fixture()
	c := NewClient(serve(t, f, Options{}), "")
	for _, tc := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("%w \"docs\" in jobs.yaml", agent.ErrNoJob), http.StatusNotFound},
		{fmt.Errorf("unable to reach job: %w", agent.ErrNotRunning), http.StatusServiceUnavailable},
		{errors.New("a pass is being resolved"), http.StatusConflict},
	} {
		f.Fail(tc.err)
		_, err := c.SyncNow(context.Background(), "docs")
		var ae *Error
		if !errors.As(err, &ae) || ae.Status != tc.code || ae.Message != tc.err.Error() {
			t.Errorf("agent error %q: got %v, want %d with the agent's message", tc.err, err, tc.code)
		}
	}
}

func TestBandwidthKeepsOmittedFields(t *testing.T) {
	f := fixture()
	c := NewClient(serve(t, f, Options{}), "")
	up := Rate(20_000_000)
	j, err := c.SetBandwidth(context.Background(), "docs", BandwidthRequest{Upload: &up})
	if err != nil {
		t.Fatal(err)
	}
	bw := j.Bandwidth
	if bw.Upload != 20_000_000 || bw.Download != 7_000_000 || bw.Policy != config.Fair || len(bw.Schedule) != 1 {
		t.Fatalf("bandwidth = %+v", bw)
	}
	addr := "http://" + serve(t, f, Options{})
	code, body := raw(t, "PUT", addr+"/api/v1/jobs/docs/bandwidth",
		`{"download":"1.5Gbps","policy":"low","target_rate":"20Mbit/s","min_rate":1000000}`, ferryHdr)
	if code != 200 {
		t.Fatalf("PUT = %d %s", code, body)
	}
	var got agent.JobStatus
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := config.Bandwidth{Upload: 20_000_000, Download: 1_500_000_000, Policy: config.Low, TargetRate: 20_000_000, MinRate: 1_000_000}
	if b := got.Bandwidth; b.Upload != want.Upload || b.Download != want.Download || b.Policy != want.Policy ||
		b.TargetRate != want.TargetRate || b.MinRate != want.MinRate {
		t.Fatalf("bandwidth = %+v, want %+v", b, want)
	}
}

func TestBadRequestsNameTheProblem(t *testing.T) {
	f := fixture()
	addr := "http://" + serve(t, f, Options{})
	for _, tc := range []struct {
		method, path, body string
		hdr                map[string]string
		code               int
		want               string
	}{
		{"POST", "/api/v1/jobs/photos/resolve", `{"paths":5}`, ferryHdr, 400, `field "paths"`},
		{"POST", "/api/v1/jobs/photos/resolve", `{"paths":["a.jpg"],"force":true}`, ferryHdr, 400, `unknown field "force"`},
		{"POST", "/api/v1/jobs/photos/resolve", `{"paths":["../etc/passwd"]}`, ferryHdr, 400, `field "paths"`},
		{"POST", "/api/v1/jobs/photos/resolve", `{"paths":[]}`, ferryHdr, 400, `field "paths"`},
		{"POST", "/api/v1/jobs/photos/resolve", `{"paths":["a.jpg"]} {}`, ferryHdr, 400, "after the object"},
		{"POST", "/api/v1/jobs/photos/resolve", `{"paths":["a.jpg"`, ferryHdr, 400, "bad JSON"},
		{"POST", "/api/v1/jobs/photos/resolve", "", ferryHdr, 400, "empty"},
		{"PUT", "/api/v1/jobs/docs/bandwidth", `{"upload":"fast"}`, ferryHdr, 400, `field "upload"`},
		{"PUT", "/api/v1/jobs/docs/bandwidth", `{"download":-5}`, ferryHdr, 400, `field "download"`},
		{"PUT", "/api/v1/jobs/docs/bandwidth", `{"policy":"greedy"}`, ferryHdr, 400, `field "policy"`},
		{"PUT", "/api/v1/jobs/docs/bandwidth", `{"min_rate":"30Mbps","target_rate":"20Mbps"}`, ferryHdr, 400, `field "min_rate"`},
		{"PUT", "/api/v1/jobs/nope/bandwidth", `{"upload":1}`, ferryHdr, 404, `"nope"`},
		{"POST", "/api/v1/jobs/docs/stop", `{"now":1}`, ferryHdr, 400, `unknown field "now"`},
		{"POST", "/api/v1/jobs/docs/stop", `{}`, map[string]string{RequestHeader: "1", "Content-Type": "text/plain"}, 415, "application/json"},
		{"POST", "/api/v1/jobs/docs/stop", `{"x":"` + strings.Repeat("a", maxBody) + `"}`, ferryHdr, 413, "over"},
		{"GET", "/api/v1/nothing", "", nil, 404, "no endpoint"},
	} {
		code, body := raw(t, tc.method, addr+tc.path, tc.body, tc.hdr)
		var eb errorBody
		if code != tc.code || json.Unmarshal([]byte(body), &eb) != nil || !strings.Contains(eb.Error, tc.want) {
			t.Errorf("%s %s %.40q: %d %s, want %d with %q", tc.method, tc.path, tc.body, code, body, tc.code, tc.want)
		}
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Fatalf("bad requests reached the agent: %q", calls)
	}
}

func TestCrossSiteWritesRefused(t *testing.T) {
	f := fixture()
	host := serve(t, f, Options{})
	url := "http://" + host + "/api/v1/jobs/docs/stop"
	for name, hdr := range map[string]map[string]string{
		"no marker header": {},
		"foreign origin":   {RequestHeader: "1", "Origin": "https://evil.example"},
		"cross-site fetch": {RequestHeader: "1", "Sec-Fetch-Site": "cross-site"},
		"same-site fetch":  {RequestHeader: "1", "Sec-Fetch-Site": "same-site"},
		"rebound DNS name": {RequestHeader: "1", "Host": "evil.example:" + host[strings.LastIndexByte(host, ':')+1:]},
	} {
		if code, body := raw(t, "POST", url, "", hdr); code != http.StatusForbidden {
			t.Errorf("%s: %d %s, want 403", name, code, body)
		}
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Fatalf("refused requests reached the agent: %q", calls)
	}
	code, body := raw(t, "POST", url, "", map[string]string{RequestHeader: "1", "Origin": "http://" + host, "Sec-Fetch-Site": "same-origin"})
	if code != 200 || len(f.Calls()) != 1 {
		t.Fatalf("same-origin page request: %d %s, calls %q", code, body, f.Calls())
	}
}

func TestTokenGuardsAPIButNotPage(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page") })
	f := fixture()
	addr := "http://" + serve(t, f, Options{Token: testToken, Page: page, Metrics: page})
	for _, auth := range []string{"", "Bearer wrong", "Basic " + testToken, "Bearer " + testToken + "x"} {
		for _, p := range []string{"/api/v1/jobs", "/metrics"} {
			if code, _ := raw(t, "GET", addr+p, "", map[string]string{"Authorization": auth}); code != 401 {
				t.Errorf("GET %s with %q: %d, want 401", p, auth, code)
			}
		}
	}
	if code, body := raw(t, "GET", addr+"/", "", nil); code != 200 || body != "page" {
		t.Errorf("page without token: %d %q", code, body)
	}
	// A token also stands in for the marker header, and any Host is fine.
	code, body := raw(t, "POST", addr+"/api/v1/jobs/docs/stop", "", map[string]string{"Authorization": "Bearer " + testToken, "Host": "ferry.example"})
	if code != 200 {
		t.Fatalf("POST with token: %d %s", code, body)
	}
	if _, err := NewClient(strings.TrimPrefix(addr, "http://"), testToken).Jobs(context.Background()); err != nil {
		t.Fatalf("client with token: %v", err)
	}
}

func TestListenTCPNeedsTokenBeyondLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "example.com:0"} {
		if l, err := ListenTCP(addr, ""); !errors.Is(err, ErrTokenRequired) {
			if l != nil {
				l.Close()
			}
			t.Errorf("ListenTCP(%q, no token) = %v, want ErrTokenRequired", addr, err)
		}
	}
	if _, err := ListenTCP("127.0.0.1:0", "short"); err == nil {
		t.Error("a 5-character token was accepted")
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		l, err := ListenTCP(addr, "")
		if err != nil {
			t.Fatalf("ListenTCP(%q) = %v", addr, err)
		}
		l.Close()
	}
	tok, err := NewToken()
	if err != nil || len(tok) < MinTokenLen {
		t.Fatalf("NewToken = %q, %v", tok, err)
	}
	l, err := ListenTCP("0.0.0.0:0", tok)
	if err != nil {
		t.Fatalf("ListenTCP with token: %v", err)
	}
	l.Close()
}

func TestUnixSocketIsOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "ferry.sock")
	l, err := ListenUnix(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode = %v, want socket 0600", fi.Mode())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, NewHandler(fixture(), Options{})) }()
	// No token, no marker header over the socket: the peer is vetted.
	if _, err := NewClient(path, "").Stop(context.Background(), "docs"); err != nil {
		t.Fatalf("Stop over socket: %v", err)
	}
	if _, err := ListenUnix(path, nil); err == nil || !strings.Contains(err.Error(), "another ferry") {
		t.Fatalf("second ListenUnix on a live socket = %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left behind after shutdown: %v", err)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ferry.sock")
	old, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	old.SetUnlinkOnClose(false)
	old.Close() // a dead ferry's socket stays on disk
	l, err := ListenUnix(path, nil)
	if err != nil {
		t.Fatalf("ListenUnix over a stale socket: %v", err)
	}
	l.Close()

	if err := os.WriteFile(path, []byte("not a socket"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ListenUnix(path, nil); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("ListenUnix over a regular file = %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "not a socket" {
		t.Fatal("the regular file was clobbered")
	}
}

func TestUnixSocketRefusesOtherUID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ferry.sock")
	// Pretend the owner is someone else: this process is then the stranger.
	l, err := listenUnix(path, uint32(os.Getuid())+1, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := fixture()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Serve(ctx, l, NewHandler(f, Options{}))
	if _, err := NewClient(path, "").Stop(context.Background(), "docs"); err == nil {
		t.Fatal("a connection from another uid was served")
	}
	if len(f.Calls()) != 0 {
		t.Fatalf("stranger reached the agent: %q", f.Calls())
	}
}

func TestEventsStreamChanges(t *testing.T) {
	f := fixture()
	addr := serve(t, f, Options{EventInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/api/v1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	next := func() []agent.JobStatus {
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var jobs []agent.JobStatus
				if err := json.Unmarshal([]byte(d), &jobs); err != nil {
					t.Fatal(err)
				}
				return jobs
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return nil
	}
	if jobs := next(); len(jobs) != 2 || jobs[0].State != agent.Transferring {
		t.Fatalf("first event = %+v", jobs)
	}
	f.Update("docs", func(j *agent.JobStatus) { j.State = agent.Halted; j.Halted = "root emptied" })
	if jobs := next(); jobs[0].State != agent.Halted || jobs[0].Halted != "root emptied" {
		t.Fatalf("second event = %+v", jobs)
	}
}

// TestRatesServesEachJobsHistory: GET /api/v1/rates gives every job's
// last seconds of rate, as the page's graph starts from them.
func TestRatesServesEachJobsHistory(t *testing.T) {
	f := fixture()
	end := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)
	f.SetHistory("docs", end, []float64{1e6, 0, 3e6})
	c := NewClient(serve(t, f, Options{}), "")
	hs, err := c.RateHistory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) == 0 || hs[0].Job != "docs" || !hs[0].End.Equal(end) || len(hs[0].Rates) != agent.HistoryLen ||
		!slices.Equal(hs[0].Rates[agent.HistoryLen-3:], []float64{1e6, 0, 3e6}) {
		t.Fatalf("rates: %+v", hs)
	}
	code, body := raw(t, "GET", "http://"+serve(t, f, Options{})+"/api/v1/rates", "", map[string]string{RequestHeader: "1"})
	if code != 200 || !strings.Contains(body, `"rates_bps":[`) || !strings.Contains(body, `"end":"2026-12-07T14:00:00Z"`) {
		t.Fatalf("GET /api/v1/rates: %d %s", code, body)
	}
}
