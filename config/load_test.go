package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/versions"
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
			Direction: TwoWay, Mode: Interval, Interval: 30 * time.Second,
			LocalSignature: ".ferry-signature", RemoteSignature: ".ferry-signature",
			Conflicts: Rename, Exclude: []string{"*.tmp", "build/"},
			MaxDelete:     Limit{IsPercent: true, Percent: 50, Set: true},
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
			Sessions:  1, MultiSessionThreshold: DefaultMultiSessionThreshold,
			Retry:    Retry{Attempts: 3, Interval: 30 * time.Second},
			Versions: versions.DefaultPolicy(),
		}, {
			Name: "photos.2024_raw-1", Local: testHome + "/Pictures",
			Remote:    "ferry://alice@nas.example.org:4000/srv/photos",
			RemoteURL: &RemoteURL{User: "alice", Host: "nas.example.org", Port: 4000, Path: "/srv/photos"},
			Direction: LocalToRemote, Mode: Schedule, Interval: DefaultInterval, Schedule: "@hourly",
			Conflicts: Manual, MaxDelete: Limit{Count: 200, Set: true},
			MaxChange:     Limit{IsPercent: true, Percent: 25, Set: true},
			PartialSuffix: ".partial", DiskSpaceWarning: 0.1,
			Cooloff: time.Second, RescanInterval: 10 * time.Minute,
			Identity: testHome + "/.ssh/id_ed25519", KnownHosts: testHome + "/.ssh/ferry_known_hosts",
			Bandwidth: Bandwidth{Upload: 1_500_000_000, Policy: Low},
			Transport: UDP,
			Sessions:  4, MultiSessionThreshold: 512 << 20,
			Retry:    Retry{Attempts: 3, Interval: 30 * time.Second},
			Proxy:    ProxyNone,
			Versions: versions.DefaultPolicy(),
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
		Conflicts: Rename, MaxDelete: Limit{IsPercent: true, Percent: 50, Set: true},
		PartialSuffix: ".partial", DiskSpaceWarning: 0.05,
		Cooloff: time.Second, RescanInterval: 10 * time.Minute,
		Identity: testHome + "/.ssh/id_ed25519", KnownHosts: state + "/known_hosts",
		Bandwidth: Bandwidth{Policy: Fair}, Transport: Auto, Sessions: 1, MultiSessionThreshold: DefaultMultiSessionThreshold,
		Retry:    Retry{Attempts: 3, Interval: 30 * time.Second},
		Versions: versions.DefaultPolicy(),
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
		{"bad_max_change.yaml", 5, "jobs[0].max_change", `"-3" is neither a percentage`},
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
		{"bad_overlap_local.yaml", 6, "jobs[1].local", `"/home/me/docs/reports/" is inside job "docs"'s local folder "/home/me/docs"; two jobs syncing overlapping folders race each other — give each job its own folder`},
		{"bad_overlap_remote.yaml", 8, "jobs[1].remote", `"ferry://alice@NAS.example.org:33001/srv/photos" contains job "photos"'s remote folder "ferry://alice@nas.example.org/srv/photos/2024"; two jobs syncing`},
		{"bad_overlap_local_remote.yaml", 6, "jobs[1].local", `"/mnt/backup" contains job "backup"'s remote folder "/mnt/backup/docs"; two jobs syncing`},
		{"bad_state_dir_inside.yaml", 1, "state_dir", `"/home/me/docs/.ferry" is inside job "docs"'s local folder "/home/me/docs", so ferry would sync its own databases; set state_dir to a folder outside every job's folders`},
		{"bad_schedule_unused.yaml", 5, "jobs[0].schedule", `is only used with mode: schedule (mode is "interval")`},
		{"bad_rate_bytes.yaml", 7, "jobs[0].bandwidth.download", `"20MBps" looks like megabytes per second; ferry rates are in bits: write 160Mbps`},
		{"bad_identity_local_remote.yaml", 6, "jobs[0].identity", `only applies to ferry:// remotes, and this job's remote "/mnt/nas/docs" is a local folder`},
		{"bad_proxy_scheme.yaml", 5, "jobs[0].proxy", `"ftp://proxy.example:3128" is not a proxy URL: the scheme "ftp" is not supported: use http (HTTP CONNECT) or socks5`},
		{"bad_proxy_port.yaml", 5, "jobs[0].proxy", `"http://user:xxxxx@proxy.example:99999" is not a proxy URL: the port must be between 1 and 65535`},
		{"bad_proxy_host.yaml", 5, "jobs[0].proxy", `"socks5://:1080" is not a proxy URL: it names no host`},
		{"bad_proxy_udp.yaml", 5, "jobs[0].transport", `udp cannot be used with proxy http://proxy.example:3128: a proxy carries only the SSH connection (TCP), and ferry's UDP data cannot pass through it; set transport: auto or tcp`},
		{"bad_proxy_local_remote.yaml", 5, "jobs[0].proxy", `only applies to ferry:// remotes, and this job's remote "/mnt/nas/docs" is a local folder`},
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
func configErrors(t testing.TB, err error) []*Error {
	t.Helper()
	var parts []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	} else if err != nil {
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
		"relative identity":    {"jobs:\n  - name: docs\n    local: /a\n    remote: ferry://u@h/x\n    identity: id_ed25519\n", "jobs[0].identity"},
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
	// The default identity cannot be expanded either, but a job with a
	// local-folder remote never reads it.
	_, err := Parse("t.yaml", []byte("state_dir: /s\njobs:\n  - name: a\n    local: ~/a\n    remote: /b\n"))
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

// A file that cannot be read is a configuration problem (the CLI exits 2
// on an *Error), located by file only, and keeps its cause for errors.Is.
func TestLoadMissingFile(t *testing.T) {
	for _, c := range []struct {
		load func(string) error
		what string
	}{
		{func(p string) error { _, err := Load(p); return err }, "jobs file"},
		{func(p string) error { _, err := LoadServer(p); return err }, "server configuration"},
	} {
		path := filepath.Join(t.TempDir(), "absent.yaml")
		err := c.load(path)
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v, want ErrNotExist", err)
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("err %T (%v) is not a *config.Error", err, err)
		}
		want := path + ": unable to read the " + c.what + ": no such file or directory"
		if e.File != path || e.Line != 0 || e.Field != "" || err.Error() != want {
			t.Errorf("got %+v: %q\nwant %q", e, err, want)
		}
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

// Two jobs on overlapping folders race each other; the later job's field
// names the earlier job. Folders that merely share a prefix, or ferry://
// remotes on other servers or accounts, are apart.
func TestJobsMustNotOverlap(t *testing.T) {
	t.Setenv("HOME", testHome)
	type end struct{ local, remote string }
	cases := []struct {
		name   string
		first  end
		second end
		field  string // "" when the pair is accepted
		msg    string
	}{
		{"same local", end{"/a", "/r1"}, end{"/a/", "/r2"}, "jobs[1].local", `"/a/" is the same folder as job "first"'s local folder "/a"`},
		{"local inside", end{"/a", "/r1"}, end{"/a/b/../c", "/r2"}, "jobs[1].local", `"/a/b/../c" is inside job "first"'s local folder "/a"`},
		{"local contains", end{"/a/b", "/r1"}, end{"/a", "/r2"}, "jobs[1].local", `"/a" contains job "first"'s local folder "/a/b"`},
		{"same local remote", end{"/a", "/r"}, end{"/b", "/r"}, "jobs[1].remote", `"/r" is the same folder as job "first"'s remote folder "/r"`},
		{"remote inside local", end{"/a", "/r"}, end{"/b", "/a/x"}, "jobs[1].remote", `"/a/x" is inside job "first"'s local folder "/a"`},
		{"local inside remote", end{"/a", "/r"}, end{"/r/x", "/b"}, "jobs[1].local", `"/r/x" is inside job "first"'s remote folder "/r"`},
		{"same url", end{"/a", "ferry://u@h/x"}, end{"/b", "ferry://u@h:33001/x/"}, "jobs[1].remote", `is the same folder as job "first"'s remote folder "ferry://u@h/x"`},
		{"url inside", end{"/a", "ferry://u@h/"}, end{"/b", "ferry://u@H/x"}, "jobs[1].remote", `"ferry://u@H/x" is inside job "first"'s remote folder "ferry://u@h/"`},
		{"sibling prefix", end{"/a", "/r"}, end{"/ab", "/r2"}, "", ""},
		{"url other user", end{"/a", "ferry://u@h/x"}, end{"/b", "ferry://v@h/x"}, "", ""},
		{"url other port", end{"/a", "ferry://u@h/x"}, end{"/b", "ferry://u@h:4000/x"}, "", ""},
		{"url other host", end{"/a", "ferry://u@h/x"}, end{"/b", "ferry://u@h2/x"}, "", ""},
		{"url sibling prefix", end{"/a", "ferry://u@h/x"}, end{"/b", "ferry://u@h/xy"}, "", ""},
		{"url path is not local", end{"/a", "ferry://u@h/b"}, end{"/b", "/r"}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := fmt.Sprintf("state_dir: /state\njobs:\n  - name: first\n    local: %q\n    remote: %q\n  - name: second\n    local: %q\n    remote: %q\n",
				c.first.local, c.first.remote, c.second.local, c.second.remote)
			_, err := Parse("t.yaml", []byte(data))
			if c.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			errs := configErrors(t, err)
			line := map[string]int{"jobs[1].local": 7, "jobs[1].remote": 8}[c.field]
			if len(errs) != 1 || errs[0].Field != c.field || errs[0].Line != line || !strings.Contains(errs[0].Msg, c.msg) ||
				!strings.Contains(errs[0].Msg, "give each job its own folder") {
				t.Errorf("got %v\nwant one error at line %d on %s containing %q", err, line, c.field, c.msg)
			}
		})
	}
}

// Overlap is also checked for configurations built in code, and a job that
// overlaps itself is reported once, by its own check.
func TestOverlapInEnsureValid(t *testing.T) {
	t.Setenv("HOME", testHome)
	a, b := DefaultJob(), DefaultJob()
	a.Name, a.Local, a.Remote = "a", "/x", "/r1"
	b.Name, b.Local, b.Remote = "", "/x/y", "/x/y/z"
	c := &Config{File: "c.yaml", StateDir: "/state", MaxConcurrentTransfers: 1, Jobs: []Job{a, b}}
	err := c.EnsureValid()
	errs := configErrors(t, err)
	fields := map[string]string{}
	for _, e := range errs {
		fields[e.Field] = e.Msg
	}
	if len(errs) != 3 || !strings.Contains(fields["jobs[1].local"], `job "a"'s local folder "/x"`) ||
		!strings.Contains(fields["jobs[1].remote"], "overlaps local") || !strings.Contains(fields["jobs[1].name"], "is required") {
		t.Errorf("got %v", err)
	}
	// A nameless job is named by its index.
	c.Jobs = []Job{b, a}
	c.Jobs[0].Name, c.Jobs[0].Remote = "", "/r0"
	if err := c.EnsureValid(); err == nil || !strings.Contains(err.Error(), `inside jobs[0]'s local folder "/x/y"`) &&
		!strings.Contains(err.Error(), `contains jobs[0]'s local folder "/x/y"`) {
		t.Errorf("got %v", err)
	}
}

// ferry must not sync its own state: state_dir inside or equal to a job's
// folder is refused, on state_dir's line, or on the job's folder when
// state_dir is the default and so not in the file.
func TestStateDirOutsideJobs(t *testing.T) {
	t.Setenv("HOME", testHome)
	cases := []struct {
		name, yaml string
		line       int // 0: accepted
		msg        string
	}{
		{"equal to local", "state_dir: /a\njobs:\n  - {name: j, local: /a, remote: /r}\n", 1, `"/a" is the same folder as job "j"'s local folder "/a"`},
		{"inside remote", "jobs:\n  - {name: j, local: /a, remote: /r}\nstate_dir: /r/.state\n", 3, `"/r/.state" is inside job "j"'s remote folder "/r"`},
		{"default inside home", "jobs:\n  - name: home\n    local: " + testHome + "\n    remote: /r\n", 3,
			`"` + testHome + `/.local/state/ferry" is inside job "home"'s local folder "` + testHome + `"; ` +
				"ferry would sync its own databases; set state_dir to a folder outside every job's folders (the default is ~/.local/state/ferry)"},
		{"containing a job", "state_dir: /s\njobs:\n  - {name: j, local: /s/j, remote: /r}\n", 0, ""},
		{"beside a job", "state_dir: /ab\njobs:\n  - {name: j, local: /a, remote: /r}\n", 0, ""},
		{"url remote path", "state_dir: /srv/state\njobs:\n  - {name: j, local: /a, remote: 'ferry://u@h/srv'}\n", 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(c.yaml))
			if c.line == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			errs := configErrors(t, err)
			if len(errs) != 1 || errs[0].Field != "state_dir" || errs[0].Line != c.line || !strings.Contains(errs[0].Msg, strings.ReplaceAll(c.msg, `"; ferry`, `", so ferry`)) {
				t.Errorf("got %v\nwant state_dir at line %d containing %q", err, c.line, c.msg)
			}
		})
	}
}

// identity and known_hosts are only read for ferry:// remotes: written for a
// local-folder remote they are a mistake, but shared through a merge key,
// or left to their defaults, they are not.
func TestRemoteOnlyKeys(t *testing.T) {
	t.Setenv("HOME", testHome)
	cases := []struct {
		name, yaml string
		field      string // "": accepted
		line       int
	}{
		{"known_hosts on local remote", "jobs:\n  - name: j\n    local: /a\n    remote: /r\n    known_hosts: /kh\n", "jobs[0].known_hosts", 5},
		{"identity on url remote", "jobs:\n  - name: j\n    local: /a\n    remote: ferry://u@h/r\n    identity: /id\n    known_hosts: /kh\n", "", 0},
		{"null identity", "jobs:\n  - name: j\n    local: /a\n    remote: /r\n    identity: ~\n", "", 0},
		{"merged from a url job", "jobs:\n  - &base\n    name: j\n    local: /a\n    remote: ferry://u@h/r\n    identity: /id\n  - <<: *base\n    name: k\n    local: /b\n    remote: /r\n", "", 0},
		{"transport and retry are fine", "jobs:\n  - name: j\n    local: /a\n    remote: /r\n    transport: tcp\n    retry: {attempts: 5}\n    bandwidth: {upload: 1Mbps}\n", "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(c.yaml))
			if c.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			errs := configErrors(t, err)
			if err == nil || len(errs) != 1 || errs[0].Field != c.field || errs[0].Line != c.line || !strings.Contains(errs[0].Msg, "only applies to ferry:// remotes") {
				t.Errorf("got %v, want one error on %s at line %d", err, c.field, c.line)
			}
		})
	}
}

// schedule with any mode but schedule would be silently ignored.
func TestScheduleNeedsScheduleMode(t *testing.T) {
	t.Setenv("HOME", testHome)
	job := "jobs:\n  - name: j\n    local: /a\n    remote: /r\n"
	for mode, want := range map[string]string{
		"continuous": `is only used with mode: schedule (mode is "continuous")`,
		"schedule":   "",
		"sometimes":  `"sometimes" is not one of`,
	} {
		_, err := Parse("t.yaml", []byte(job+"    mode: "+mode+"\n    schedule: '@daily'\n"))
		if want == "" {
			if err != nil {
				t.Errorf("mode %s: %v", mode, err)
			}
			continue
		}
		errs := configErrors(t, err)
		if err == nil || len(errs) != 1 || !strings.Contains(errs[0].Msg, want) {
			t.Errorf("mode %s: got %v, want one error containing %q", mode, err, want)
		}
	}
	j := DefaultJob()
	j.Name, j.Local, j.Remote, j.Schedule = "x", "/a", "/b", "@daily"
	if err := j.EnsureValid(); err == nil || !strings.Contains(err.Error(), "schedule: is only used with mode: schedule") {
		t.Errorf("EnsureValid() = %v", err)
	}
}
