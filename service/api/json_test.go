package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/conflict"
	"github.com/ferry-sync/ferry/halt"
	"github.com/ferry-sync/ferry/service/api/apitest"
	"github.com/ferry-sync/ferry/snapshot"
)

// fullFixture fills every field of a job's status that the API writes, so
// that a key check sees them all.
func fullFixture() *apitest.Fake {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	up := config.Rate(1_000_000)
	h := &halt.Halt{Kind: halt.TooManyDeletes, Job: "docs", Config: "/j.yaml", Side: halt.Local, Root: "/d", Count: 9, Limit: 5, Rule: "5"}
	return apitest.New([]agent.JobStatus{{
		Name: "docs", Local: "/d", Remote: "ferry://u@h/d", Direction: config.TwoWay, Mode: config.Continuous,
		Config: "/j.yaml", State: agent.Transferring, Halt: h, Halted: "too many deletes", Fix: "ferry sync --allow-deletes",
		Progress: agent.Progress{FilesDone: 1, FilesTotal: 2, BytesDone: 10, BytesTotal: 20, Rate: 8e6, ETA: 1500 * time.Millisecond},
		NextPass: t0.Add(time.Minute),
		Last: &snapshot.PassRecord{
			Start: t0, End: t0.Add(time.Second), Created: 1, Renamed: 1, Copied: 1, Bytes: 5, InSync: 5, InTheWay: 1,
			ProblemPaths: []snapshot.ProblemPath{{Side: "local", Path: "x", Problem: "permission denied"}},
			Halt:         h, Halted: "too many deletes", Err: "boom", Interrupted: true,
			Recovered: &snapshot.Recovery{File: "/s.db", MovedTo: "/s.db.damaged", Reason: "bad page", Time: t0},
		},
		Transfers: []agent.TransferStatus{{
			Path: "a", Size: 20, Done: 10, Rate: 8e6, TargetRate: 9e6, MinRate: 1e6, Policy: "fair", RetransmitPct: 0.5,
			RTT: 25 * time.Millisecond, ETA: 2 * time.Second,
		}},
		Bandwidth: config.Bandwidth{Upload: 5_000_000, Download: 7_000_000, Policy: config.Fair, TargetRate: 9_000_000, MinRate: 1_000_000,
			Schedule: []config.BandwidthRule{{Cron: "0 8 * * *", Upload: &up, Download: &up}}},
		Unwatched: &agent.Unwatched{Dirs: 3, Dir: "deep", Limit: true, Err: "no space left on device", Fix: "sysctl", Every: 30 * time.Second},
	}}, map[string][]conflict.Record{
		"docs": {
			{Path: "a.jpg", Reason: conflict.BothModified, Time: t0, Copy: "a.conflict.jpg",
				Local:  conflict.Side{Kind: "file", Size: 3, Mtime: t0.UnixNano()},
				Remote: conflict.Side{Kind: "file", Size: 4, Mtime: t0.Add(time.Second).UnixNano()}},
			{Path: "B", Reason: conflict.CaseClash, Time: t0, Local: conflict.Side{Kind: "absent"}, Remote: conflict.Side{Kind: "file", Size: 1, Mtime: 1},
				Clash: []conflict.ClashName{{Path: "B", Remote: true}, {Path: "b", Local: true}}},
		},
	})
}

func checkKeys(t *testing.T, what string, doc []byte, want ...string) {
	t.Helper()
	bad, err := apitest.BadKeys(doc)
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, doc)
	}
	if len(bad) > 0 {
		t.Errorf("%s: keys not in snake_case or in nanoseconds: %q\n%s", what, bad, doc)
	}
	keys, _ := apitest.Keys(doc)
	for _, k := range want {
		if !slices.Contains(keys, k) {
			t.Errorf("%s: no key %s\n%s", what, k, doc)
		}
	}
}

// TestAPIJSONIsSnakeCase walks every key of every document the API writes:
// the bandwidth object was PascalCase (Go's default) and durations were
// integer nanoseconds (eta_ns, rtt_ns, every_ns, mtime_ns).
func TestAPIJSONIsSnakeCase(t *testing.T) {
	addr := "http://" + serve(t, fullFixture(), Options{EventInterval: 10 * time.Millisecond})
	jobKeys := []string{"progress.eta_s", "transfers[*].rtt_s", "transfers[*].eta_s", "unwatched.every_s",
		"bandwidth.upload", "bandwidth.target_rate", "bandwidth.schedule[*].cron", "last.start", "halt.kind", "next_pass"}
	prefixed := func(p string) []string {
		var out []string
		for _, k := range jobKeys {
			out = append(out, p+k)
		}
		return out
	}
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/api/v1/jobs", prefixed("[*].")},
		{"/api/v1/jobs/docs", jobKeys},
		{"/api/v1/jobs/docs/conflicts", []string{"[*].local.mtime", "[*].remote.mtime", "[*].clash[*].path", "[*].time"}},
		{"/api/v1/jobs/nope", []string{"error"}},
	} {
		_, body := raw(t, "GET", addr+tc.path, "", nil)
		checkKeys(t, tc.path, []byte(body), tc.want...)
	}
	_, body := raw(t, "PUT", addr+"/api/v1/jobs/docs/bandwidth", `{"upload":"2Mbps"}`, ferryHdr)
	checkKeys(t, "PUT bandwidth", []byte(body), jobKeys...)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", addr+"/api/v1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			checkKeys(t, "event", []byte(d), prefixed("[*].")...)
			return
		}
	}
	t.Fatalf("event stream ended: %v", sc.Err())
}

// TestAPIJSONRoundTrips: what the client decodes is what the agent
// reported, durations and conflict times included.
func TestAPIJSONRoundTrips(t *testing.T) {
	f := fullFixture()
	c := NewClient(serve(t, f, Options{}), "")
	ctx := context.Background()
	j, err := c.Job(ctx, "docs")
	if err != nil {
		t.Fatal(err)
	}
	want := f.Jobs()[0]
	if j.Progress != want.Progress || !slices.Equal(j.Transfers, want.Transfers) || *j.Unwatched != *want.Unwatched ||
		!j.NextPass.Equal(want.NextPass) || j.Bandwidth.TargetRate != want.Bandwidth.TargetRate || *j.Bandwidth.Schedule[0].Upload != 1_000_000 {
		t.Fatalf("decoded %+v\nwant    %+v", j, want)
	}
	recs, err := c.Conflicts(ctx, "docs")
	if err != nil {
		t.Fatal(err)
	}
	wantRecs, _ := f.Conflicts("docs")
	if len(recs) != 2 || recs[0].Local != wantRecs[0].Local || recs[0].Remote != wantRecs[0].Remote || !recs[0].Time.Equal(wantRecs[0].Time) ||
		recs[1].Local.Kind != "absent" || recs[1].Local.Mtime != 0 || recs[1].Remote != wantRecs[1].Remote || len(recs[1].Clash) != 2 {
		t.Fatalf("conflicts = %+v\nwant %+v", recs, wantRecs)
	}
	// A job that has no pass due says nothing, rather than year 1.
	var idle agent.JobStatus
	b, _ := json.Marshal(idle)
	if strings.Contains(string(b), "next_pass") {
		t.Errorf("zero next_pass written: %s", b)
	}
}
