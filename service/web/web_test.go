package web_test

import (
	"context"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/conflict"
	"github.com/ferry-sync/ferry/halt"
	"github.com/ferry-sync/ferry/service/api"
	"github.com/ferry-sync/ferry/service/api/apitest"
	"github.com/ferry-sync/ferry/service/render"
	"github.com/ferry-sync/ferry/service/web"
	"github.com/ferry-sync/ferry/service/web/webtest"
	"github.com/ferry-sync/ferry/snapshot"
)

const hostile = `<img src=x onerror=alert(1)>`

// bidi reads "invoiceexe.txt" where a right-to-left override is obeyed.
const bidi = "invoice\u202etxt.exe\u200b"

func fixture(now time.Time) *apitest.Fake {
	mail := agent.JobStatus{Name: "mail", Local: "/home/ann/mail", Remote: "/mnt/backup/mail",
		Direction: config.LocalToRemote, Mode: config.Interval, State: agent.Halted}
	mail.SetHalt(&halt.Halt{Kind: halt.RootEmptied, Job: "mail", Config: "/etc/ferry/jobs.yaml", Side: halt.Local, Root: "/home/ann/mail", Count: 1200})
	return apitest.New([]agent.JobStatus{
		{
			Name: "docs", Local: "/home/ann/docs", Remote: "ferry://ann@nas:33001/srv/docs",
			Direction: config.TwoWay, Mode: config.Continuous, State: agent.Transferring,
			Progress: agent.Progress{FilesDone: 12, FilesTotal: 40, BytesDone: 310 << 20, BytesTotal: 1 << 30, Rate: 84e6, ETA: 83 * time.Second},
			Transfers: []agent.TransferStatus{
				{Path: "video/talk.mp4", Size: 700 << 20, Done: 210 << 20, Rate: 84e6, TargetRate: 100e6, Policy: "fair"},
				{Path: "video/" + bidi, Size: 1 << 20, Done: 1 << 10, Rate: 1e6, Policy: "fair"},
			},
			Last: &snapshot.PassRecord{Start: now.Add(-5 * time.Minute), End: now.Add(-4 * time.Minute), Created: 3, Updated: 1, Bytes: 5 << 20,
				DiskSpaceLow: []snapshot.DiskSpaceLow{{Side: "local", Free: 3 << 30, Needed: 2 << 30, Total: 100 << 30, Share: 0.05}}},
		},
		{
			Name: "photos", Local: "/home/ann/photos", Remote: "/mnt/backup/photos",
			Direction: config.RemoteToLocal, Mode: config.Interval, State: agent.Idle, NextPass: now.Add(25 * time.Second),
		},
		mail,
	}, map[string][]conflict.Record{
		"photos": {
			{Path: hostile, Reason: conflict.BothModified, Time: now},
			{Path: "2026/beach.jpg", Reason: conflict.DeletedModified, Time: now},
			{Path: bidi, Reason: conflict.CaseClash, Time: now, Clash: []conflict.ClashName{{Path: bidi, Local: true}, {Path: "INVOICE\u202etxt.exe\u200b", Local: true}}},
		},
	})
}

func TestPageHeaders(t *testing.T) {
	srv := web.Handler()
	for _, p := range []string{"/", "/app.js", "/style.css"} {
		req, _ := http.NewRequest("GET", p, nil)
		rec := &recorder{h: http.Header{}}
		srv.ServeHTTP(rec, req)
		csp := rec.h.Get("Content-Security-Policy")
		if rec.code != 200 || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: %d, CSP %q", p, rec.code, csp)
		}
	}
	// No inline script and no external URL in anything the page loads.
	for _, p := range []string{"static/index.html", "static/app.js", "static/style.css"} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "https://", "http://", "<script>"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s contains %q", p, bad)
			}
		}
	}
}

type recorder struct {
	h    http.Header
	code int
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return len(b), nil
}
func (r *recorder) WriteHeader(c int) { r.code = c }

// jobState reads the state shown on a job's card.
const jobState = `const c = [...document.querySelectorAll("section.job")].find(s => s.getAttribute("data-job") === arguments[0]);
return c ? c.querySelector(".state").textContent : "";`

func TestPageInBrowser(t *testing.T) {
	d := webtest.Start(t)
	now := time.Now()
	f := fixture(now)
	l, err := api.ListenTCP("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- api.Serve(ctx, l, api.NewHandler(f, api.Options{Page: web.Handler()})) }()
	// The running job's rate moves so the graph has something to draw.
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			f.Update("docs", func(j *agent.JobStatus) {
				if j.State == agent.Transferring {
					j.Progress.Rate = 60e6 + 30e6*math.Sin(float64(i)/8)
					j.Progress.BytesDone = min(j.Progress.BytesTotal, j.Progress.BytesDone+1<<20)
				}
			})
		}
	}()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()

	d.Open("http://" + l.Addr().String() + "/")
	d.WaitFor("docs state", "transferring", jobState, "docs")
	// The ETA comes from the API's eta_s (float seconds).
	d.WaitFor("docs eta", "1m23s left",
		`const t = document.querySelector('section[data-job="docs"] .progress').textContent; return t.includes("1m23s left") ? "1m23s left" : t;`)
	d.WaitFor("halt reason", "Halted: the local folder /home/ann/mail is empty but held 1200 entries at the last sync; nothing was changed",
		`return document.querySelector('section[data-job="mail"] .halt-reason').textContent`)
	d.WaitFor("low disk space", "Low disk space on the local side: the last pass left 1.0 GiB free of 100 GiB (1.0%), under the 5% of disk_space_warning; free some space there.",
		`const e = document.querySelector('section[data-job="docs"] .disk-low'); return e ? e.textContent : "";`)

	// The hostile file name is text, and nothing it spells came to life.
	d.WaitFor("hostile conflict", hostile,
		`const p = [...document.querySelectorAll('section[data-job="photos"] .conflict .path')].map(e => e.textContent);
return p.includes(arguments[0]) ? arguments[0] : p.join("|");`, hostile)
	// Names with bidi controls or zero-width characters are shown escaped,
	// exactly as the CLI shows them.
	d.WaitFor("bidi conflict", render.Clean(bidi),
		`const p = [...document.querySelectorAll('section[data-job="photos"] .conflict .path')].map(e => e.textContent);
return p.includes(arguments[0]) ? arguments[0] : p.join("|");`, render.Clean(bidi))
	d.WaitFor("bidi transfer", "video/"+render.Clean(bidi),
		`return [...document.querySelectorAll('section[data-job="docs"] .transfers .path')].map(e => e.textContent).join("|").split("|").pop()`)
	var reason string
	d.Exec(&reason, `return [...document.querySelectorAll('section[data-job="photos"] .conflict .reason')].map(e => e.textContent).pop()`)
	if want := "case clash: " + render.Clean(bidi) + ", " + render.Clean("INVOICE\u202etxt.exe\u200b"); reason != want {
		t.Errorf("clash reason shows %q, want %q", reason, want)
	}
	var text string
	d.Exec(&text, `return document.body.innerText`)
	if strings.ContainsAny(text, "\u202e\u200b") {
		t.Errorf("the page shows a raw format character: %q", text)
	}
	// app.js's shown mirrors render.Clean.
	samples := []string{bidi, "a\u202a\u202b\u202c\u202db", "\u2066x\u2067y\u2068z\u2069", "zero\u200bwidth\u200c\u200d",
		"\ufeffbom\u200e\u200f\u061c", "soft\u00adhyphen", "line\u2028para\u2029", "tag\U000e0041",
		"esc\x1b[2J\x07\x7f", "c1\u009bx", "new\nline\ttab", "plain ünïcode ✓ 日本 café"}
	var got []string
	d.Exec(&got, `return arguments[0].map(shown)`, samples)
	for i, s := range samples {
		if i >= len(got) {
			t.Fatalf("app.js returned %d results for %d samples", len(got), len(samples))
		}
		if got[i] != render.Clean(s) {
			t.Errorf("app.js shows %q as %q, render.Clean as %q", s, got[i], render.Clean(s))
		}
	}
	var imgs int
	d.Exec(&imgs, `return document.getElementsByTagName("img").length`)
	if imgs != 0 {
		t.Fatalf("the page has %d img elements: a file name was parsed as HTML", imgs)
	}
	if got := d.Dialogs(); len(got) != 0 {
		t.Fatalf("the page opened a dialog: a file name ran as script: %q", got)
	}

	if path := os.Getenv("FERRY_SCREENSHOT"); path != "" {
		// A few seconds of graph first.
		d.WaitFor("rate samples", "true", `return String(rates.get("docs").length >= 6)`)
		d.Screenshot(path)
		t.Logf("screenshot saved to %s", path)
	}

	d.Click(`section[data-job="docs"] button.stop`)
	d.WaitFor("docs state after Stop", "stopped", jobState, "docs")
	d.Click(`section[data-job="docs"] button.resume`)
	d.WaitFor("docs state after Resume", "idle", jobState, "docs")

	d.Click(`section[data-job="photos"] .conflict button.resolve`)
	d.WaitFor("conflicts after Resolve", "2026/beach.jpg|"+render.Clean(bidi),
		`return [...document.querySelectorAll('section[data-job="photos"] .conflict .path')].map(e => e.textContent).join("|")`)
	if got := d.Dialogs(); len(got) != 0 {
		t.Fatalf("the page opened a dialog after resolving: %q", got)
	}
	want := []string{"stop docs", "resume docs", "resolve photos"}
	if got := f.Calls(); !slices.Equal(got, want) {
		t.Fatalf("agent calls = %q, want %q", got, want)
	}
	var errText string
	d.Exec(&errText, `return document.getElementById("error").textContent`)
	if errText != "" {
		t.Fatalf("page shows an error: %q", errText)
	}
}

// TestPageWithToken opens the page as the owner of a token-guarded listener
// would: the token rides in the fragment, and the page sends it.
func TestPageWithToken(t *testing.T) {
	d := webtest.Start(t)
	f := fixture(time.Now())
	const token = "feedfacefeedface0001"
	l, err := api.ListenTCP("127.0.0.1:0", token)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- api.Serve(ctx, l, api.NewHandler(f, api.Options{Token: token, Page: web.Handler()})) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	d.Open("http://" + l.Addr().String() + "/#token=" + token)
	d.WaitFor("docs state", "transferring", jobState, "docs")
	var hash string
	d.Exec(&hash, `return location.hash`)
	if hash != "" {
		t.Fatalf("the token stayed in the address bar: %q", hash)
	}
	d.Click(`section[data-job="docs"] button.stop`)
	d.WaitFor("docs state after Stop", "stopped", jobState, "docs")
	if got := f.Calls(); !slices.Equal(got, []string{"stop docs"}) {
		t.Fatalf("agent calls = %q", got)
	}
}

// TestPageKeepsRateHistoryAndSaysQueued: a page opened (or reloaded) while
// the agent runs starts its graph with the rates the agent kept (GET
// /api/v1/rates), labels an idle graph's axis with distinct rates from 0,
// and shows a job waiting for a transfer slot as "queued (N ahead)" and a
// file's size beside what of it is done.
func TestPageKeepsRateHistoryAndSaysQueued(t *testing.T) {
	d := webtest.Start(t)
	now := time.Now()
	f := fixture(now)
	past := make([]float64, agent.HistoryLen)
	past[100] = 5e6
	f.SetHistory("photos", now.Truncate(time.Second), past)
	f.Update("photos", func(j *agent.JobStatus) { j.State, j.Ahead = agent.Queued, 2 })
	l, err := api.ListenTCP("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- api.Serve(ctx, l, api.NewHandler(f, api.Options{Page: web.Handler()})) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()

	d.Open("http://" + l.Addr().String() + "/")
	d.WaitFor("photos state", "queued (2 ahead)", jobState, "photos")
	d.WaitFor("history", "true", `const r = rates.get("photos") || []; return String(r.length >= 300 && r.includes(5e6))`)
	d.WaitFor("file size", "210 MiB / 700 MiB, 30%, 84 Mbit/s",
		`const t = document.querySelector('section[data-job="docs"] .transfers li').textContent; return t.replace("video/talk.mp4 ", "")`)
	var labels []string
	d.Exec(&labels, `return axis([0, 0, NaN, undefined]).labels`)
	if want := []string{"1.0 Mbit/s", "750 kbit/s", "500 kbit/s", "250 kbit/s", "0 bit/s"}; !slices.Equal(labels, want) {
		t.Errorf("idle axis labels %q, want %q", labels, want)
	}
	d.Exec(&labels, `return axis([0, 61e6]).labels`)
	if want := []string{"80 Mbit/s", "60 Mbit/s", "40 Mbit/s", "20 Mbit/s", "0 bit/s"}; !slices.Equal(labels, want) {
		t.Errorf("axis labels up to 61 Mbit/s %q, want %q", labels, want)
	}
}
