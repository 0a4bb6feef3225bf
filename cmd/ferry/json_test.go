package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/service/api/apitest"
)

// decodeDoc checks a --json document: it is one JSON object, every key
// at every depth is snake_case with no _ns suffix, schema_version is 1 and
// each of want is a key path in it; then it decodes it into v.
func decodeDoc(t *testing.T, what, out string, v any, want ...string) {
	t.Helper()
	bad, err := apitest.BadKeys([]byte(out))
	if err != nil {
		t.Fatalf("%s: not one JSON document: %v\n%s", what, err, out)
	}
	if len(bad) > 0 {
		t.Errorf("%s: keys not in snake_case or in nanoseconds: %q\n%s", what, bad, out)
	}
	keys, _ := apitest.Keys([]byte(out))
	for _, k := range append([]string{"schema_version"}, want...) {
		if !slices.Contains(keys, k) {
			t.Errorf("%s: no key %s\n%s", what, k, out)
		}
	}
	var head struct {
		SchemaVersion int `json:"schema_version"`
	}
	if err := json.Unmarshal([]byte(out), &head); err != nil || head.SchemaVersion != 1 {
		t.Errorf("%s: schema_version %d (%v), want 1", what, head.SchemaVersion, err)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, out)
	}
	if dec.More() {
		t.Fatalf("%s: more than one JSON document:\n%s", what, out)
	}
}

// Independent of the Go types the commands encode, so that the names
// on the wire are what is checked.
type jsonStatus struct {
	AgentRunning bool `json:"agent_running"`
	Jobs         []struct {
		Name      string `json:"name"`
		State     string `json:"state"`
		Conflicts int    `json:"conflicts"`
		Halt      *struct {
			Kind string `json:"kind"`
		} `json:"halt"`
		Fix  string `json:"fix"`
		Last *struct {
			Created   int       `json:"created"`
			Conflicts int       `json:"conflicts"`
			End       time.Time `json:"end"`
		} `json:"last"`
		Bandwidth struct {
			Upload int64  `json:"upload"`
			Policy string `json:"policy"`
		} `json:"bandwidth"`
		Sessions int `json:"sessions"`
	} `json:"jobs"`
}

type jsonConflicts struct {
	Job       string `json:"job"`
	Conflicts []struct {
		Path   string `json:"path"`
		Reason string `json:"reason"`
		Local  struct {
			Kind  string    `json:"kind"`
			Size  int64     `json:"size"`
			Mtime time.Time `json:"mtime"`
		} `json:"local"`
	} `json:"conflicts"`
}

// TestStatusAndConflictsJSON: `ferry status --json` and `ferry conflicts
// --json`, with no agent (from the state directory) and through a running
// agent's API, are one snake_case document each; status --json still exits
// 1 when a job is halted.
func TestStatusAndConflictsJSON(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, local, remote := jobFixture(t, "    direction: two-way\n    conflicts: manual\n    interval: 1h\n    max_delete: 0\n    bandwidth: {upload: 8Mbps}\n    sessions: 3\n")
	write(t, filepath.Join(local, "log.txt"), "mine")
	write(t, filepath.Join(remote, "log.txt"), "theirs")
	write(t, filepath.Join(local, "keep.txt"), "keep")
	if code, _, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j"); code != exitOK {
		t.Fatalf("sync: exit %d: %s", code, stderr)
	}
	statusKeys := []string{"agent_running", "jobs[*].name", "jobs[*].state", "jobs[*].progress.eta_s", "jobs[*].bandwidth.upload",
		"jobs[*].bandwidth.target_rate", "jobs[*].last.start", "jobs[*].last.end", "jobs[*].conflicts", "jobs[*].sessions"}

	code, out, stderr := runCLI(t, ctx, "status", "--json", "--config", cfg)
	var st jsonStatus
	decodeDoc(t, "status --json", out, &st, statusKeys...)
	if code != exitOK || st.AgentRunning || len(st.Jobs) != 1 || st.Jobs[0].Name != "j" || st.Jobs[0].Conflicts != 1 ||
		st.Jobs[0].Last == nil || st.Jobs[0].Last.Created != 1 || st.Jobs[0].Last.End.IsZero() ||
		st.Jobs[0].Bandwidth.Upload != 8_000_000 || st.Jobs[0].Sessions != 3 {
		t.Fatalf("status --json: exit %d %+v\n%s%s", code, st, out, stderr)
	}

	code, out, _ = runCLI(t, ctx, "conflicts", "--config", cfg, "--json", "j")
	var cf jsonConflicts
	decodeDoc(t, "conflicts --json", out, &cf, "job", "conflicts[*].path", "conflicts[*].local.mtime", "conflicts[*].remote.size")
	fi, err := os.Stat(filepath.Join(local, "log.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if code != exitOK || cf.Job != "j" || len(cf.Conflicts) != 1 || cf.Conflicts[0].Path != "log.txt" || cf.Conflicts[0].Reason != "both modified" ||
		cf.Conflicts[0].Local.Size != 4 || !cf.Conflicts[0].Local.Mtime.Equal(fi.ModTime()) {
		t.Fatalf("conflicts --json: exit %d %+v\n%s", code, cf, out)
	}

	// Through a running agent: the same documents, from its API.
	func() {
		ctx, stop := context.WithCancel(ctx)
		defer stop()
		addr := startAgent(t, ctx, cfg)
		waitLastPass(t, ctx, addr)
		code, out, stderr := runCLI(t, ctx, "status", "--config", cfg, "j", "--json")
		var st jsonStatus
		decodeDoc(t, "status --json (agent)", out, &st, statusKeys...)
		if code != exitOK || !st.AgentRunning || len(st.Jobs) != 1 || st.Jobs[0].Conflicts != 1 || st.Jobs[0].Bandwidth.Upload != 8_000_000 ||
			st.Jobs[0].Sessions != 3 {
			t.Fatalf("status --json (agent): exit %d %+v\n%s%s", code, st, out, stderr)
		}
		code, out, _ = runCLI(t, ctx, "conflicts", "--config", cfg, "--json", "j")
		var cf2 jsonConflicts
		decodeDoc(t, "conflicts --json (agent)", out, &cf2, "conflicts[*].local.mtime")
		if code != exitOK || !reflect.DeepEqual(cf2, cf) {
			t.Fatalf("conflicts --json (agent) = %+v, want %+v as without the agent\n%s", cf2, cf, out)
		}
	}()

	// A halted job: sync --json says why (exit 3), status --json exits 1.
	if err := os.Remove(filepath.Join(local, "keep.txt")); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, ctx, "sync", "--json", "--config", cfg, "j")
	var sd struct {
		DryRun bool `json:"dry_run"`
		Halt   struct {
			Kind   string `json:"kind"`
			Reason string `json:"reason"`
			Fix    string `json:"fix"`
		} `json:"halt"`
		Pass struct {
			Halted string `json:"halted"`
		} `json:"pass"`
	}
	decodeDoc(t, "sync --json (halted)", out, &sd, "job", "dry_run", "halt.kind", "halt.reason", "halt.fix", "pass.start", "pass.halted")
	if code != exitHalted || sd.Halt.Kind != "too-many-deletes" || !strings.Contains(sd.Halt.Fix, "--allow-deletes") || sd.Pass.Halted == "" {
		t.Fatalf("sync --json over max_delete: exit %d %+v\n%s", code, sd, out)
	}
	code, out, stderr = runCLI(t, ctx, "status", "--json", "--config", cfg)
	st = jsonStatus{}
	decodeDoc(t, "status --json (halted)", out, &st, "jobs[*].halt.kind", "jobs[*].halted", "jobs[*].fix")
	if code != exitError || len(st.Jobs) != 1 || st.Jobs[0].State != "halted" || st.Jobs[0].Halt == nil || st.Jobs[0].Halt.Kind != "too-many-deletes" {
		t.Fatalf("status --json of a halted job: exit %d, want %d %+v\n%s%s", code, exitError, st, out, stderr)
	}
}

// waitLastPass waits, for up to 30 s, for the agent to report the job's
// last pass and its conflict: it reports neither before its own first
// pass has finished.
func waitLastPass(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/api/v1/jobs/j", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var j struct {
			State     string          `json:"state"`
			Last      json.RawMessage `json:"last"`
			Conflicts int             `json:"conflicts"`
		}
		err = json.NewDecoder(resp.Body).Decode(&j)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if j.State == "idle" && len(j.Last) > 0 && j.Conflicts == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not report its first pass within 30 s: %+v", j)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type jsonPlan struct {
	DryRun bool `json:"dry_run"`
	Plan   struct {
		Counts struct {
			Local struct {
				Updated int   `json:"updated"`
				Bytes   int64 `json:"bytes"`
			} `json:"local"`
			Remote struct {
				Created int `json:"created"`
				Deleted int `json:"deleted"`
				Renamed int `json:"renamed"`
			} `json:"remote"`
		} `json:"counts"`
		Ops []struct {
			Side string `json:"side"`
			Kind string `json:"kind"`
			Path string `json:"path"`
			From string `json:"from"`
			Size int64  `json:"size"`
		} `json:"ops"`
	} `json:"plan"`
}

// TestSyncJSONThroughServe: `ferry sync --dry-run --json` against a real
// ferry serve is the plan (counts and one op per change, kind, path, from,
// size) and changes nothing; `ferry sync --json` is the pass's record and
// the transport's figures; a plan that would halt is the halt, exit 3.
func TestSyncJSONThroughServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	cfgPath := s.jobs(t, "    direction: two-way\n")
	write(t, filepath.Join(s.local, "gone.txt"), "gone")
	write(t, filepath.Join(s.local, "edit.txt"), "v1")
	write(t, filepath.Join(s.local, "old-name.txt"), strings.Repeat("moved content ", 100))
	syncOnce(t, ctx, cfgPath)

	write(t, filepath.Join(s.local, "new.txt"), "brand new")
	write(t, filepath.Join(s.served, "edit.txt"), "v2 from the server")
	if err := os.Remove(filepath.Join(s.local, "gone.txt")); err != nil {
		t.Fatal(err)
	}
	mv(t, filepath.Join(s.local, "old-name.txt"), filepath.Join(s.local, "new-name.txt"))
	beforeL, beforeS := snapshotDir(t, s.local), snapshotDir(t, s.served)

	code, out, stderr := runCLI(t, ctx, "sync", "--config", cfgPath, "j", "--dry-run", "--json")
	var p jsonPlan
	decodeDoc(t, "sync --dry-run --json", out, &p, "job", "dry_run", "plan.counts.local.conflict_copies", "plan.counts.remote.bytes",
		"plan.counts.conflicts", "plan.ops[*].side", "plan.ops[*].kind", "plan.ops[*].path", "plan.ops[*].from", "plan.ops[*].size",
		"plan.conflicts", "plan.problems")
	if code != exitOK || !p.DryRun {
		t.Fatalf("dry run: exit %d\n%s\n%s", code, out, stderr)
	}
	c := p.Plan.Counts
	if c.Local.Updated != 1 || c.Local.Bytes != 18 || c.Remote.Created != 1 || c.Remote.Deleted != 1 || c.Remote.Renamed != 1 {
		t.Errorf("counts = %+v\n%s", c, out)
	}
	type op struct {
		side, kind, path, from string
		size                   int64
	}
	var ops []op
	for _, o := range p.Plan.Ops {
		ops = append(ops, op{o.Side, o.Kind, o.Path, o.From, o.Size})
	}
	for _, want := range []op{
		{"local", "update", "edit.txt", "", 18},
		{"remote", "create", "new.txt", "", 9},
		{"remote", "delete", "gone.txt", "", 0},
		{"remote", "rename", "new-name.txt", "old-name.txt", 1400},
	} {
		if !slices.Contains(ops, want) {
			t.Errorf("plan lacks %+v: %+v", want, ops)
		}
	}
	if a, b := snapshotDir(t, s.local), snapshotDir(t, s.served); !reflect.DeepEqual(a, beforeL) || !reflect.DeepEqual(b, beforeS) {
		t.Fatalf("the dry run changed a folder")
	}

	// Over the deletion limit: the halt, exit 3.
	strict := s.jobs(t, "    direction: two-way\n    max_delete: 0\n")
	code, out, _ = runCLI(t, ctx, "sync", "--dry-run", "--json", "--config", strict, "j")
	var h struct {
		Plan *json.RawMessage `json:"plan"`
		Halt struct {
			Kind  string `json:"kind"`
			Limit int    `json:"limit"`
		} `json:"halt"`
	}
	decodeDoc(t, "sync --dry-run --json (halted)", out, &h, "halt.kind", "halt.reason", "halt.fix")
	if code != exitHalted || h.Halt.Kind != "too-many-deletes" || h.Plan != nil {
		t.Fatalf("halted dry run: exit %d %+v\n%s", code, h, out)
	}

	cfgPath = s.jobs(t, "    direction: two-way\n")
	code, out, stderr = runCLI(t, ctx, "sync", "--json", "--config", cfgPath, "j")
	var done struct {
		DryRun bool `json:"dry_run"`
		Pass   struct {
			Created, Updated, Deleted, Renamed int
			Bytes                              int64
			Start, End                         time.Time
		} `json:"pass"`
		Transport *struct {
			UDP  bool    `json:"udp"`
			RTT  float64 `json:"rtt_s"`
			Size int     `json:"datagram_bytes"`
		} `json:"transport"`
	}
	decodeDoc(t, "sync --json", out, &done, "job", "pass.created", "pass.in_sync", "pass.start", "transport.udp", "transport.rtt_s")
	pr := done.Pass
	if code != exitOK || done.DryRun || pr.Created != 1 || pr.Updated != 1 || pr.Deleted != 1 || pr.Renamed != 1 ||
		!pr.End.After(pr.Start) || done.Transport == nil || !done.Transport.UDP {
		t.Fatalf("sync --json: exit %d %+v\n%s\n%s", code, done, out, stderr)
	}
	if got := read(t, filepath.Join(s.served, "new.txt")); got != "brand new" {
		t.Errorf("served new.txt = %q", got)
	}
}
