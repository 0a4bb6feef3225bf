package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/halt"
	"github.com/ferry-sync/ferry/service/render"
	"github.com/ferry-sync/ferry/service/web/webtest"
	"github.com/ferry-sync/ferry/snapshot"
)

// haltCase is one kind of halt brought about for real: setup writes the
// jobs file and makes the first pass succeed, then break makes the next
// one halt.
type haltCase struct {
	name  string
	kind  halt.Kind
	extra string // job settings
	setup func(t *testing.T, local, remote string)
	brk   func(t *testing.T, cfgPath, local, remote string)
	// want are pieces of the fix: the command that is the right one for
	// this kind, with the non-default jobs file.
	want []string
}

func haltCases() []haltCase {
	two := func(t *testing.T, local, _ string) {
		for _, n := range []string{"a", "b", "c", "d"} {
			write(t, filepath.Join(local, n+".txt"), n)
		}
	}
	return []haltCase{
		{name: "root emptied", kind: halt.RootEmptied, setup: two,
			brk: func(t *testing.T, _, local, _ string) {
				for _, n := range []string{"a", "b", "c", "d"} {
					os.Remove(filepath.Join(local, n+".txt"))
				}
			},
			want: []string{"restore or mount it", "ferry sync --allow-deletes --config CFG j", "ferry reset-sync --config CFG j is not a fix"}},
		{name: "too many deletes", kind: halt.TooManyDeletes, extra: "    max_delete: 1\n", setup: two,
			brk: func(t *testing.T, _, local, _ string) {
				for _, n := range []string{"a", "b", "c"} {
					os.Remove(filepath.Join(local, n+".txt"))
				}
			},
			want: []string{"if the deletions are intended, run: ferry sync --allow-deletes --config CFG j"}},
		{name: "too many changes", kind: halt.TooManyChanges, extra: "    max_change: 1\n", setup: two,
			brk: func(t *testing.T, _, local, _ string) {
				for _, n := range []string{"a", "b"} {
					write(t, filepath.Join(local, n+".txt"), n+" rewritten")
				}
			},
			want: []string{"if the changes are intended, run: ferry sync --allow-changes --config CFG j"}},
		{name: "signature missing", kind: halt.SignatureMissing, extra: "    local_signature: .sig\n",
			setup: func(t *testing.T, local, remote string) {
				two(t, local, remote)
				write(t, filepath.Join(local, ".sig"), "")
			},
			brk:  func(t *testing.T, _, local, _ string) { os.Remove(filepath.Join(local, ".sig")) },
			want: []string{"touch LOCAL/.sig", "without one, run: ferry sync --config CFG j"}},
		{name: "pair changed", kind: halt.PairChanged, setup: two,
			brk: func(t *testing.T, cfgPath, _, remote string) {
				b := strings.Replace(read(t, cfgPath), "remote: "+remote, "remote: "+remote+"2", 1)
				write(t, cfgPath, b)
				if err := os.Mkdir(remote+"2", 0o755); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"if the new folders are right, run: ferry reset-sync --config CFG j"}},
	}
}

// TestHaltAdviceIsTheSameEverywhere brings about each kind of halt with a
// jobs file at a non-default path (with a space in it), then reads the
// advice from every front end through its real renderer: `ferry sync`,
// `ferry status` with and without a running agent, the API's JSON and the
// activity page in a browser. Each shows the one Fix of the halt, and
// every command in it names the jobs file.
func TestHaltAdviceIsTheSameEverywhere(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var browser *webtest.Browser
	if webtest.Available() || os.Getenv(webtest.RequireEnv) != "" {
		browser = webtest.Start(t)
	} else {
		t.Log("no chromium: the activity page is not checked (apt-get install chromium)")
	}
	for _, c := range haltCases() {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			state, err := os.MkdirTemp("", "fh") // short: it holds the control socket
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(state) })
			local, remote := filepath.Join(dir, "local"), filepath.Join(dir, "remote")
			for _, d := range []string{local, remote} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			cfgPath := filepath.Join(dir, "conf dir", "my jobs.yaml")
			write(t, cfgPath, "state_dir: "+state+"\njobs:\n  - name: j\n    local: "+local+"\n    remote: "+remote+
				"\n    direction: two-way\n    interval: 1h\n"+c.extra)
			c.setup(t, local, remote)
			if code, _, stderr := runCLI(t, ctx, "sync", "--config", cfgPath, "j"); code != exitOK {
				t.Fatalf("first pass: exit %d: %s", code, stderr)
			}
			c.brk(t, cfgPath, local, remote)

			code, out, stderr := runCLI(t, ctx, "sync", "--config", cfgPath, "j")
			if code != exitHalted {
				t.Fatalf("exit %d, want %d (halted): %s%s", code, exitHalted, out, stderr)
			}
			h := lastHalt(t, cfgPath)
			if h.Kind != c.kind {
				t.Fatalf("halt kind %q, want %q", h.Kind, c.kind)
			}
			fix := h.Fix()
			quoted := halt.Quote(cfgPath)
			for _, w := range c.want {
				w = strings.NewReplacer("CFG", quoted, "LOCAL", local).Replace(w)
				if !strings.Contains(fix, w) {
					t.Errorf("fix lacks %q:\n%s", w, fix)
				}
			}
			for _, l := range strings.Split(fix, "\n") {
				if strings.Contains(l, "ferry ") && !strings.Contains(l, "--config "+quoted+" ") {
					t.Errorf("a command without the jobs file: %q", l)
				}
			}
			if strings.Contains(fix, "ferry resume") {
				t.Errorf("fix suggests ferry resume, which only undoes ferry stop:\n%s", fix)
			}
			note := render.HaltNote("j", h.Reason(), fix)
			if !strings.Contains(stderr, "ferry sync: "+note) {
				t.Errorf("ferry sync does not show the halt as\n%s\ngot:\n%s", note, stderr)
			}
			if _, out, _ := runCLI(t, ctx, "status", "--config", cfgPath); !strings.Contains(out, note) {
				t.Errorf("offline ferry status does not show the halt as\n%s\ngot:\n%s", note, out)
			}

			// The same halt seen by a running agent, which holds the job:
			// the fix asks it (sync-now) instead of ferry sync.
			addr := startAgent(t, ctx, cfgPath)
			waitHalted(t, ctx, addr)
			held := *h
			held.Agent = true
			fix = held.Fix()
			note = render.HaltNote("j", h.Reason(), fix)
			if _, out, _ := runCLI(t, ctx, "status", "--config", cfgPath); !strings.Contains(out, note) ||
				strings.Contains(out, "no agent is running") {
				t.Errorf("ferry status from the agent does not show the halt as\n%s\ngot:\n%s", note, out)
			}
			j := apiJob(t, ctx, addr)
			if j.Fix != fix || j.Halted != h.Reason() || j.Halt == nil || j.Halt.Kind != c.kind {
				t.Errorf("API: halt %+v\nhalted %q\nfix %q\nwant fix %q", j.Halt, j.Halted, j.Fix, fix)
			}
			if browser != nil {
				browser.Open("http://" + addr + "/")
				browser.WaitFor("the page's fix", fix,
					`const e = document.querySelector('section[data-job="j"] .halt-fix'); return e ? e.textContent : "";`)
				browser.WaitFor("the page's reason", "Halted: "+h.Reason(),
					`const e = document.querySelector('section[data-job="j"] .halt-reason'); return e ? e.textContent : "";`)
			}
		})
	}
}

// lastHalt reads the halt of the job's last pass from its snapshot.
func lastHalt(t *testing.T, cfgPath string) *halt.Halt {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var rec snapshot.PassRecord
	err = withDB(cfg, "j", func(db *snapshot.DB) error {
		var ok bool
		var err error
		rec, ok, err = db.LastPass()
		if err == nil && !ok {
			err = fmt.Errorf("no pass recorded")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Halt == nil {
		t.Fatalf("the last pass did not halt: %+v", rec)
	}
	return rec.Halt
}

// startAgent runs `ferry run` in process with the HTTP listener on a free
// loopback port, and returns its address; the agent stops with the test.
func startAgent(t *testing.T, ctx context.Context, cfgPath string) string {
	t.Helper()
	cfg, _, err := loadJob(cfgPath, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(ctx)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var errb syncBuffer
	go func() {
		done <- runAgent(ctx, &env{stdout: &errb, stderr: &errb}, cfg, runOptions{
			cfgPath: cfgPath, httpAddr: "127.0.0.1:0", log: slog.New(slog.DiscardHandler),
			ready: func(a string) { ready <- a },
		})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("agent: %v\n%s", err, errb.String())
		}
	})
	select {
	case a := <-ready:
		return a
	case err := <-done:
		t.Fatalf("agent did not start: %v\n%s", err, errb.String())
	case <-ctx.Done():
		t.Fatal("agent did not start in time")
	}
	return ""
}

// apiJobStatus is the part of the API's JSON this test reads, decoded
// independently of agent.JobStatus so that the wire names are checked.
type apiJobStatus struct {
	State  string     `json:"state"`
	Halt   *halt.Halt `json:"halt"`
	Halted string     `json:"halted"`
	Fix    string     `json:"fix"`
}

func apiJob(t *testing.T, ctx context.Context, addr string) apiJobStatus {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/api/v1/jobs/j", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var j apiJobStatus
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil {
		t.Fatal(err)
	}
	return j
}

// waitHalted waits, for up to 30 s, for the agent's first pass to halt.
func waitHalted(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j := apiJob(t, ctx, addr)
		if j.State == "halted" && j.Halt != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent's job did not halt within 30 s: %+v", j)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
