package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const testHome = "/home/tester"

func dataFile(name string) string { return filepath.Join("..", "testdata", "config", name) }

func rate(r Rate) *Rate { return &r }

func TestLoadValidFull(t *testing.T) {
	t.Setenv("HOME", testHome)
	c, err := Load(dataFile("valid_full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	state := testHome + "/.local/state/ferry"
	want := &Config{
		File:                   dataFile("valid_full.yaml"),
		StateDir:               state,
		MaxConcurrentTransfers: 3,
		Jobs: []Job{{
			Name: "docs", Local: "/home/me/docs", Remote: "/mnt/nas/docs",
			Direction: TwoWay, Mode: Interval, Interval: 30 * time.Second, Schedule: "*/5 * * * *",
			LocalSignature: ".ferry-signature", RemoteSignature: ".ferry-signature",
			Conflicts: Rename, Exclude: []string{"*.tmp", "build/"},
			MaxDelete:     Limit{IsPercent: true, Percent: 50},
			PartialSuffix: ".partial", DiskSpaceWarning: 0.05,
			Cooloff: time.Second, RescanInterval: 10 * time.Minute,
			Identity: testHome + "/.ssh/id_ed25519", KnownHosts: state + "/known_hosts",
			Bandwidth: Bandwidth{
				Upload: 20_000_000, Download: 50_000_000, Policy: Fair, TargetRate: 100_000_000, MinRate: 0,
				Schedule: []BandwidthRule{
					{Cron: "0 9 * * 1-5", Upload: rate(5_000_000), Download: rate(20_000_000)},
					{Cron: "0 18 * * 1-5", Upload: rate(0), Download: rate(0)},
				},
			},
			Transport: Auto,
			Retry:     Retry{Attempts: 3, Interval: 30 * time.Second},
		}, {
			Name: "photos.2024_raw-1", Local: testHome + "/Pictures",
			Remote:    "ferry://alice@nas.example.org:4000/srv/photos",
			RemoteURL: &RemoteURL{User: "alice", Host: "nas.example.org", Port: 4000, Path: "/srv/photos"},
			Direction: LocalToRemote, Mode: Schedule, Interval: DefaultInterval, Schedule: "@hourly",
			Conflicts: Manual, MaxDelete: Limit{Count: 200},
			PartialSuffix: ".partial", DiskSpaceWarning: 0.1,
			Cooloff: time.Second, RescanInterval: 10 * time.Minute,
			Identity: testHome + "/.ssh/id_ed25519", KnownHosts: state + "/known_hosts",
			Bandwidth: Bandwidth{Upload: 1_500_000_000, Policy: Low},
			Transport: UDP,
			Retry:     Retry{Attempts: 3, Interval: 30 * time.Second},
		}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
		for i := range min(len(c.Jobs), len(want.Jobs)) {
			if !reflect.DeepEqual(c.Jobs[i], want.Jobs[i]) {
				t.Errorf("jobs[%d]:\n got  %+v\n want %+v", i, c.Jobs[i], want.Jobs[i])
			}
		}
	}
}

func TestLoadValidMinimalUsesDefaults(t *testing.T) {
	t.Setenv("HOME", testHome)
	c, err := Load(dataFile("valid_minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	state := testHome + "/.local/state/ferry"
	if c.StateDir != state || c.MaxConcurrentTransfers != 3 {
		t.Errorf("state_dir %q, max_concurrent_transfers %d", c.StateDir, c.MaxConcurrentTransfers)
	}
	j, ok := c.Job("docs")
	if !ok {
		t.Fatal("job docs not found")
	}
	want := Job{
		Name: "docs", Local: "/home/me/docs", Remote: "ferry://me@[::1]/data/docs",
		RemoteURL: &RemoteURL{User: "me", Host: "::1", Port: 33001, Path: "/data/docs"},
		Direction: RemoteToLocal, Mode: Interval, Interval: 30 * time.Second,
		Conflicts: Rename, MaxDelete: Limit{IsPercent: true, Percent: 50},
		PartialSuffix: ".partial", DiskSpaceWarning: 0.05,
		Cooloff: time.Second, RescanInterval: 10 * time.Minute,
		Identity: testHome + "/.ssh/id_ed25519", KnownHosts: state + "/known_hosts",
		Bandwidth: Bandwidth{Policy: Fair}, Transport: Auto,
		Retry: Retry{Attempts: 3, Interval: 30 * time.Second},
	}
	if !reflect.DeepEqual(*j, want) {
		t.Errorf("got  %+v\nwant %+v", *j, want)
	}
	if err := j.EnsureValid(); err != nil {
		t.Errorf("a loaded job fails EnsureValid: %v", err)
	}
	for got, want := range map[string]string{
		c.DBPath("docs"):   state + "/jobs/docs.db",
		c.SocketPath():     state + "/ferry.sock",
		c.LogDir():         state + "/logs",
		c.KnownHostsPath(): state + "/known_hosts",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if _, ok := c.Job("nope"); ok {
		t.Error("Job found a job that does not exist")
	}
}

// Each bad file holds one mistake; the error must name its exact line and
// field.
func TestLoadBadFiles(t *testing.T) {
	t.Setenv("HOME", testHome)
	cases := []struct {
		file  string
		line  int
		field string
		msg   string
	}{
		{"bad_unknown_key.yaml", 5, "jobs[0].colour", "unknown key"},
		{"bad_duration.yaml", 5, "jobs[0].interval", `"30 seconds" is not a duration`},
		{"bad_direction.yaml", 7, "jobs[0].direction", `"sideways" is not one of two-way, remote-to-local, local-to-remote`},
		{"bad_mode.yaml", 5, "jobs[0].mode", `"sometimes" is not one of interval, continuous, schedule`},
		{"bad_conflicts.yaml", 5, "jobs[0].conflicts", `"overwrite" is not one of rename, manual`},
		{"bad_policy.yaml", 7, "jobs[0].bandwidth.policy", `"greedy" is not one of fixed, high, fair, low`},
		{"bad_transport.yaml", 5, "jobs[0].transport", `"carrier-pigeon" is not one of udp, tcp, auto`},
		{"bad_rate.yaml", 6, "jobs[0].bandwidth.download", `"20 megabytes" is not a rate`},
		{"bad_max_delete.yaml", 5, "jobs[0].max_delete", `"150%" is not a percentage`},
		{"bad_duplicate_name.yaml", 5, "jobs[1].name", `"docs" is already the name of jobs[0]`},
		{"bad_name.yaml", 2, "jobs[0].name", `"my docs/2" may contain only`},
		{"bad_relative_local.yaml", 3, "jobs[0].local", `"docs" is not an absolute path`},
		{"bad_relative_remote.yaml", 4, "jobs[0].remote", `"mnt/nas/docs" is neither an absolute path nor a ferry:// URL`},
		{"bad_url.yaml", 4, "jobs[0].remote", "names no user"},
		{"bad_schedule_missing.yaml", 5, "jobs[0].schedule", "is required with mode: schedule"},
		{"bad_cron.yaml", 6, "jobs[0].schedule", `"61 * * * *" is not a cron expression`},
		{"bad_bandwidth_cron.yaml", 8, "jobs[0].bandwidth.schedule[1].cron", `"every evening" is not a cron expression`},
		{"bad_signature.yaml", 5, "jobs[0].local_signature", "must be a relative path inside the folder"},
		{"bad_signature_dotdot.yaml", 5, "jobs[0].remote_signature", "must be a relative path inside the folder"},
		{"bad_missing_local.yaml", 3, "jobs[0].local", "is required"},
		{"bad_missing_remote.yaml", 2, "jobs[0].remote", "is required"},
		{"bad_syntax.yaml", 4, "", "invalid YAML"},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		seen[c.file] = true
		t.Run(c.file, func(t *testing.T) {
			cfg, err := Load(dataFile(c.file))
			if err == nil {
				t.Fatalf("loaded without error: %+v", cfg)
			}
			errs := configErrors(t, err)
			if len(errs) != 1 {
				t.Fatalf("want exactly one error, got %d:\n%v", len(errs), err)
			}
			e := errs[0]
			if e.File != dataFile(c.file) || e.Line != c.line || e.Field != c.field || !strings.Contains(e.Msg, c.msg) {
				t.Errorf("got %s:%d field %q msg %q\nwant %s:%d field %q msg containing %q",
					e.File, e.Line, e.Field, e.Msg, dataFile(c.file), c.line, c.field, c.msg)
			}
		})
	}
	// Every bad_*.yaml must be in the table.
	files, err := filepath.Glob(dataFile("bad_*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if name := filepath.Base(f); !seen[name] && name != "bad_many.yaml" {
			t.Errorf("%s has no case in the table", name)
		}
	}
}

// configErrors unpacks a joined error into its *Error parts, failing the
// test on any part of another type.
func configErrors(t *testing.T, err error) []*Error {
	t.Helper()
	var parts []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	} else {
		parts = []error{err}
	}
	var out []*Error
	for _, p := range parts {
		var e *Error
		if !errors.As(p, &e) {
			t.Fatalf("error part %T (%v) is not a *config.Error", p, p)
		}
		out = append(out, e)
	}
	return out
}

func TestErrorsAreAllCollected(t *testing.T) {
	t.Setenv("HOME", testHome)
	_, err := Load(dataFile("bad_many.yaml"))
	if err == nil {
		t.Fatal("no error")
	}
	var first *Error
	if !errors.As(err, &first) {
		t.Fatalf("errors.As found no *Error in %v", err)
	}
	type at struct {
		line  int
		field string
	}
	var got []at
	for _, e := range configErrors(t, err) {
		got = append(got, at{e.Line, e.Field})
	}
	want := []at{
		{1, "max_concurrent_transfers"},
		{4, "jobs[0].local"},
		{6, "jobs[0].direction"},
		{7, "jobs[0].retry.interval"},
		{7, "jobs[0].retry.attempts"},
		{8, "jobs[1].name"},
		{10, "jobs[1].remote"},
		{11, "jobs[1].bandwidth.upload"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v\nerror:\n%v", got, want, err)
	}
}

func TestErrorString(t *testing.T) {
	data := []byte("jobs:\n  - name: docs\n    local: /a\n    remote: /b\n\n\n    direction: sideways\n")
	_, err := Parse("jobs.yaml", data)
	want := `jobs.yaml:7: jobs[0].direction: "sideways" is not one of two-way, remote-to-local, local-to-remote`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestStrictDecoding(t *testing.T) {
	t.Setenv("HOME", testHome)
	job := "jobs:\n  - name: docs\n    local: /a\n    remote: /b\n"
	cases := map[string]struct {
		yaml  string
		field string
	}{
		"duplicate key":        {job + "    local: /c\n", "jobs[0].local"},
		"unknown top-level":    {"colour: red\n" + job, "colour"},
		"list for a string":    {job + "    direction: [two-way]\n", "jobs[0].direction"},
		"mapping for a list":   {"jobs: {name: docs}\n", "jobs"},
		"bad count":            {"max_concurrent_transfers: 2.5\n" + job, "max_concurrent_transfers"},
		"relative state_dir":   {"state_dir: state\n" + job, "state_dir"},
		"zero interval":        {job + "    interval: 0s\n", "jobs[0].interval"},
		"negative cooloff":     {job + "    cooloff: -1s\n", "jobs[0].cooloff"},
		"bad fraction":         {job + "    disk_space_warning: 150%\n", "jobs[0].disk_space_warning"},
		"slash in suffix":      {job + "    partial_suffix: x/y\n", "jobs[0].partial_suffix"},
		"relative identity":    {job + "    identity: id_ed25519\n", "jobs[0].identity"},
		"overlapping folders":  {"jobs:\n  - name: docs\n    local: /a\n    remote: /a/b\n", "jobs[0].remote"},
		"min above target":     {job + "    bandwidth: {target_rate: 10Mbps, min_rate: 20Mbps}\n", "jobs[0].bandwidth.min_rate"},
		"rule changes nothing": {job + "    bandwidth: {schedule: [{cron: '@daily'}]}\n", "jobs[0].bandwidth.schedule[0]"},
		"unknown rule key":     {job + "    bandwidth: {schedule: [{cron: '@daily', up: 1}]}\n", "jobs[0].bandwidth.schedule[0].up"},
		"url password":         {"jobs:\n  - name: docs\n    local: /a\n    remote: ferry://u:pw@h/x\n", "jobs[0].remote"},
		"url without path":     {"jobs:\n  - name: docs\n    local: /a\n    remote: ferry://u@h\n", "jobs[0].remote"},
		"url with ..":          {"jobs:\n  - name: docs\n    local: /a\n    remote: ferry://u@h/x/../y\n", "jobs[0].remote"},
		"bad exclude":          {job + "    exclude: ['[']\n", "jobs[0].exclude[0]"},
		"job not a mapping":    {"jobs: [docs]\n", "jobs[0]"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			errs := configErrors(t, err)
			if errs[0].Field != c.field || errs[0].Line == 0 {
				t.Errorf("got %v, want field %s with a line", err, c.field)
			}
		})
	}
}

func TestMergeKeysAndTilde(t *testing.T) {
	t.Setenv("HOME", testHome)
	data := `
jobs:
  - &base
    name: a
    local: ~/a
    remote: /srv/a
    direction: two-way
    interval: 1m
  - <<: *base
    name: b
    local: ~/b
    remote: /srv/b
`
	c, err := Parse("t.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Jobs[1]
	if b.Name != "b" || b.Local != testHome+"/b" || b.Remote != "/srv/b" || b.Direction != TwoWay || b.Interval != time.Minute {
		t.Errorf("merged job: %+v", b)
	}
	if c.Jobs[0].Local != testHome+"/a" {
		t.Errorf("~/a expanded to %q", c.Jobs[0].Local)
	}
}

func TestTildeWithoutHome(t *testing.T) {
	t.Setenv("HOME", "")
	_, err := Parse("t.yaml", []byte("state_dir: /s\njobs:\n  - name: a\n    local: ~/a\n    remote: /b\n    identity: /id\n"))
	errs := configErrors(t, err)
	if len(errs) != 1 || errs[0].Field != "jobs[0].local" || !strings.Contains(errs[0].Msg, "home directory") {
		t.Errorf("got %v", err)
	}
}

func TestEmptyFileHasNoJobs(t *testing.T) {
	t.Setenv("HOME", testHome)
	for _, data := range []string{"", "# nothing\n", "jobs:\n"} {
		c, err := Parse("t.yaml", []byte(data))
		if err != nil || len(c.Jobs) != 0 {
			t.Errorf("%q: %v, %+v", data, err, c)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want ErrNotExist", err)
	}
}

func TestJobEnsureValid(t *testing.T) {
	t.Setenv("HOME", testHome)
	j := DefaultJob()
	j.Name, j.Local, j.Remote = "x", "/a", "/b"
	if err := j.EnsureValid(); err != nil {
		t.Fatalf("default job invalid: %v", err)
	}
	j.Direction = "sideways"
	j.Bandwidth.Upload = -1
	err := j.EnsureValid()
	var e *Error
	if !errors.As(err, &e) || e.Field != "direction" || !strings.Contains(err.Error(), `job "x"`) || !strings.Contains(err.Error(), "bandwidth.upload") {
		t.Errorf("EnsureValid() = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(dataFile("*.yaml"))
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("jobs: [&a [*a]]"))
	f.Add([]byte("jobs:\n  - <<: [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is not a *config.Error: %v", err)
			}
			return
		}
		if err := c.EnsureValid(); err != nil {
			t.Fatalf("Parse accepted a config EnsureValid rejects: %v", err)
		}
	})
}

// Aliases let a few lines stand for millions of values; decoding must stay
// bounded and say why it stopped.
func TestAliasBombIsBounded(t *testing.T) {
	t.Setenv("HOME", testHome)
	var b strings.Builder
	b.WriteString("x: &e [")
	for i := 0; i < 1000; i++ {
		b.WriteString("[a],")
	}
	b.WriteString("]\njobs:\n  - &j {name: a, local: /a, remote: /b, exclude: *e}\n")
	for i := 0; i < 1000; i++ {
		b.WriteString("  - *j\n")
	}
	start := time.Now()
	_, err := Parse("bomb.yaml", []byte(b.String()))
	if err == nil {
		t.Fatal("accepted")
	}
	if !strings.Contains(err.Error(), "expands to more than") || !strings.Contains(err.Error(), "more problems not shown") {
		t.Errorf("error does not explain the stop: %.500s", err)
	}
	if n := len(configErrors(t, err)); n > maxErrors+2 {
		t.Errorf("%d errors returned, want at most %d", n, maxErrors+2)
	}
	t.Logf("decode took %v", time.Since(start))
}
