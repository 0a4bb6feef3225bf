package main

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/snapshot"
)

// TestFlagsAfterArguments: `ferry sync JOB --allow-deletes` is `ferry sync
// --allow-deletes JOB`; before cobra the flag after JOB was read as a
// second JOB.
func TestFlagsAfterArguments(t *testing.T) {
	ctx := context.Background()
	cfg, local, remote := jobFixture(t, "    max_delete: 1\n")
	for _, n := range []string{"a", "b", "c"} {
		write(t, filepath.Join(remote, n), n)
	}
	if code, _, stderr := runCLI(t, ctx, "sync", "j", "--config", cfg); code != exitOK {
		t.Fatalf("first pass: exit %d: %s", code, stderr)
	}
	for _, n := range []string{"a", "b"} {
		if err := os.Remove(filepath.Join(remote, n)); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, _ := runCLI(t, ctx, "sync", "j", "--config", cfg); code != exitHalted {
		t.Fatalf("deleting 2 with max_delete 1: exit %d, want %d", code, exitHalted)
	}
	if code, _, stderr := runCLI(t, ctx, "sync", "j", "--config", cfg, "--allow-deletes"); code != exitOK {
		t.Fatalf("sync j --allow-deletes: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(local, "a")); !os.IsNotExist(err) {
		t.Errorf("--allow-deletes after JOB did not delete local a: %v", err)
	}
}

// TestSingleDashLongFlagsStillWork: scripts pass -config F and
// -allow-deletes as Go's flag package took them; pflag alone would read
// them as shorthands.
func TestSingleDashLongFlagsStillWork(t *testing.T) {
	ctx := context.Background()
	cfg, local, remote := jobFixture(t, "")
	write(t, filepath.Join(remote, "a.txt"), "a")
	for _, args := range [][]string{
		{"sync", "-config", cfg, "j"},
		{"sync", "-config=" + cfg, "-allow-deletes", "j"},
		{"sync", "j", "-log-level", "warn", "-config", cfg},
	} {
		if code, _, stderr := runCLI(t, ctx, args...); code != exitOK {
			t.Fatalf("%q: exit %d: %s", args, code, stderr)
		}
	}
	if got := read(t, filepath.Join(local, "a.txt")); got != "a" {
		t.Errorf("local a.txt = %q", got)
	}
	if code, _, stderr := runCLI(t, ctx, "status", "-h"); code != exitOK || !strings.Contains(stderr, "usage: ferry status") {
		t.Errorf("status -h: exit %d: %s", code, stderr)
	}
}

func TestNormaliseFlags(t *testing.T) {
	root := newRootCommand(context.Background(), &env{})
	sync := findCommand(root, "sync")
	sync.InitDefaultHelpFlag()
	for _, c := range []struct{ in, want []string }{
		{[]string{"-config", "F", "j"}, []string{"--config", "F", "j"}},
		{[]string{"-config=F", "j", "-allow-deletes"}, []string{"--config=F", "j", "--allow-deletes"}},
		{[]string{"-h"}, []string{"-h"}},
		{[]string{"-help"}, []string{"--help"}},
		// The value of a flag is never a flag, nor is anything after --.
		{[]string{"--config", "-config", "j"}, []string{"--config", "-config", "j"}},
		{[]string{"-config", "-log-level", "j"}, []string{"--config", "-log-level", "j"}},
		{[]string{"--", "-config"}, []string{"--", "-config"}},
		// Not a flag of sync: left for pflag to refuse.
		{[]string{"-nope", "j"}, []string{"-nope", "j"}},
	} {
		if got := normaliseFlags(sync.Flags(), c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("normaliseFlags(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestVersion(t *testing.T) {
	ctx := context.Background()
	want := regexp.MustCompile(`^ferry \S+ \(commit \S+, \S+\)\n$`)
	for _, args := range [][]string{{"--version"}, {"-v"}, {"-version"}, {"version"}} {
		code, out, stderr := runCLI(t, ctx, args...)
		if code != exitOK || !want.MatchString(out) {
			t.Errorf("%q: exit %d, out %q, err %q", args, code, out, stderr)
		}
	}
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"},
	}}
	if got, want := formatVersion(bi, true), "ferry v1.2.3 (commit 0123456789ab+dirty, go1.26.8)"; got != want {
		t.Errorf("formatVersion = %q, want %q", got, want)
	}
	if got, want := formatVersion(nil, false), "ferry devel (commit unknown, unknown)"; got != want {
		t.Errorf("formatVersion without build info = %q, want %q", got, want)
	}
}

func TestHelpAndUnknownCommand(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		if code, out, _ := runCLI(t, ctx, args...); code != exitOK || !strings.Contains(out, "usage: ferry COMMAND") {
			t.Errorf("%q: exit %d, out %s", args, code, out)
		}
	}
	if code, out, _ := runCLI(t, ctx); code != exitConfig || !strings.Contains(out, "usage: ferry COMMAND") {
		t.Errorf("no arguments: exit %d, out %s", code, out)
	}
	for _, args := range [][]string{{"sync", "-h"}, {"help", "sync"}, {"sync", "--help"}} {
		if code, _, stderr := runCLI(t, ctx, args...); code != exitOK || !strings.Contains(stderr, "--allow-deletes") {
			t.Errorf("%q: exit %d, err %s", args, code, stderr)
		}
	}
	code, _, stderr := runCLI(t, ctx, "synk", "j")
	if code != exitConfig || !strings.Contains(stderr, `unknown command "synk"`) || !strings.Contains(stderr, "did you mean: sync") {
		t.Errorf("unknown command: exit %d, err %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, ctx, "sync", "--no-such-flag", "j"); code != exitConfig || !strings.Contains(stderr, "no-such-flag") {
		t.Errorf("unknown flag: exit %d, err %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, ctx, "--no-such-flag"); code != exitConfig || !strings.Contains(stderr, "no-such-flag") {
		t.Errorf("unknown root flag: exit %d, err %s", code, stderr)
	}
}

func TestCompletion(t *testing.T) {
	ctx := context.Background()
	for shell, want := range map[string]string{
		"bash": "complete -o default -F __start_ferry ferry",
		"zsh":  "#compdef ferry",
		"fish": "complete -c ferry",
	} {
		code, out, stderr := runCLI(t, ctx, "completion", shell)
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, err %s, script lacks %q", shell, code, stderr, want)
		}
	}
	if code, _, _ := runCLI(t, ctx, "completion", "tcsh"); code != exitConfig {
		t.Errorf("completion tcsh: exit %d, want %d", code, exitConfig)
	}
	// What the scripts ask the binary: the commands, then a command's flags.
	if _, out, _ := runCLI(t, ctx, "__complete", "sy"); !strings.Contains(out, "sync") || !strings.Contains(out, "sync-now") {
		t.Errorf("__complete sy:\n%s", out)
	}
	if _, out, _ := runCLI(t, ctx, "__complete", "sync", "--all"); !strings.Contains(out, "--allow-deletes") {
		t.Errorf("__complete sync --all:\n%s", out)
	}
	// A JOB argument completes from the jobs file named on the line.
	cfg, _, _ := jobFixture(t, "")
	if _, out, _ := runCLI(t, ctx, "__complete", "status", "--config", cfg, ""); !strings.Contains(out, "j\n") {
		t.Errorf("__complete status --config F '':\n%s", out)
	}
	if _, out, _ := runCLI(t, ctx, "__complete", "sync", "-config", cfg, ""); !strings.Contains(out, "j\n") {
		t.Errorf("__complete sync -config F '':\n%s", out)
	}
	if _, out, _ := runCLI(t, ctx, "__complete", "sync", "--config", cfg, "x"); strings.Contains(out, "j\n") {
		t.Errorf("__complete sync --config F x offers j:\n%s", out)
	}
}

// TestManPages is what `make man` runs: a page for ferry naming every
// command, and one for each command.
func TestManPages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man")
	if code, _, stderr := runCLI(t, context.Background(), "gen-man", dir); code != exitOK {
		t.Fatalf("gen-man: exit %d: %s", code, stderr)
	}
	top := read(t, filepath.Join(dir, "ferry.1"))
	for _, c := range append(commands(), &command{name: "completion"}) {
		if !strings.Contains(top, "ferry-"+c.name+"(1)") {
			t.Errorf("ferry.1 does not name %s", c.name)
		}
		if _, err := os.Stat(filepath.Join(dir, "ferry-"+c.name+".1")); err != nil {
			t.Errorf("no page for %s: %v", c.name, err)
		}
	}
	if sync := read(t, filepath.Join(dir, "ferry-sync.1")); !strings.Contains(sync, "allow-deletes") {
		t.Errorf("ferry-sync.1 does not list --allow-deletes:\n%s", sync)
	}
}

// TestStatusExitsNonZeroWhenHaltedOrFailed: `ferry status` exits 1 while a
// job shown is halted or its last pass failed, so that cron and monitoring
// can use it, and 0 once it is healthy again.
func TestStatusExitsNonZeroWhenHaltedOrFailed(t *testing.T) {
	ctx := context.Background()
	cfg, local, _ := jobFixture(t, "    local_signature: .sig\n")
	write(t, filepath.Join(local, ".sig"), "")
	write(t, filepath.Join(local, "a.txt"), "a")
	if code, _, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j"); code != exitOK {
		t.Fatalf("first pass: exit %d: %s", code, stderr)
	}
	if code, out, stderr := runCLI(t, ctx, "status", "--config", cfg); code != exitOK {
		t.Fatalf("status of a healthy job: exit %d\n%s%s", code, out, stderr)
	}

	if err := os.Remove(filepath.Join(local, ".sig")); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runCLI(t, ctx, "sync", "--config", cfg, "j"); code != exitHalted {
		t.Fatalf("sync without the signature: exit %d, want %d", code, exitHalted)
	}
	for _, args := range [][]string{{"status", "--config", cfg}, {"status", "j", "--config", cfg}} {
		code, out, stderr := runCLI(t, ctx, args...)
		if code != exitError || !strings.Contains(out, "halted") || !strings.Contains(stderr, "job j is halted") {
			t.Errorf("%q of a halted job: exit %d, want %d\nout %s\nerr %s", args, code, exitError, out, stderr)
		}
	}

	write(t, filepath.Join(local, ".sig"), "")
	if code, _, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j"); code != exitOK {
		t.Fatalf("sync with the signature back: exit %d: %s", code, stderr)
	}
	if code, out, stderr := runCLI(t, ctx, "status", "--config", cfg); code != exitOK {
		t.Fatalf("status once healthy again: exit %d\n%s%s", code, out, stderr)
	}

	// A pass that failed (not halted) is recorded with its error.
	c, _, err := loadJob(cfg, "j")
	if err != nil {
		t.Fatal(err)
	}
	err = withDB(c, "j", func(db *snapshot.DB) error {
		now := time.Now()
		return db.PutPass(snapshot.PassRecord{Start: now, End: now, Err: "unable to reach the remote"})
	})
	if err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, ctx, "status", "--config", cfg)
	if code != exitError || !strings.Contains(out, "failed") {
		t.Errorf("status after a failed pass: exit %d, want %d\nout %s\nerr %s", code, exitError, out, stderr)
	}
}

func TestFailing(t *testing.T) {
	failed := &snapshot.PassRecord{Err: "unable to reach the remote"}
	for _, c := range []struct {
		name string
		j    agent.JobStatus
		want bool
	}{
		{"never ran", agent.JobStatus{State: agent.Idle}, false},
		{"last pass ok", agent.JobStatus{State: agent.Idle, Last: &snapshot.PassRecord{Created: 1}}, false},
		{"halted", agent.JobStatus{State: agent.Halted, Halted: "root emptied"}, true},
		{"last pass halted", agent.JobStatus{State: agent.Idle, Last: &snapshot.PassRecord{Halted: "root emptied"}}, true},
		{"last pass failed", agent.JobStatus{State: agent.Idle, Last: failed}, true},
		{"failed, transferring again", agent.JobStatus{State: agent.Transferring, Last: failed}, true},
		{"stopped by a person", agent.JobStatus{State: agent.Stopped, Last: failed}, false},
	} {
		if got := failing(c.j); got != c.want {
			t.Errorf("%s: failing = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestStatusAfterAnInterruptedPass: a pass cut short (Ctrl-C) is recorded
// as interrupted, not failed: `ferry status` shows it so and exits 0.
func TestStatusAfterAnInterruptedPass(t *testing.T) {
	cfg, local, _ := jobFixture(t, "")
	write(t, filepath.Join(local, "a.txt"), "a")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if code, _, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j"); code != exitOK {
		t.Fatalf("an interrupted sync: exit %d: %s", code, stderr)
	}
	code, out, stderr := runCLI(t, context.Background(), "status", "--config", cfg)
	if code != exitOK || !strings.Contains(out, "interrupted") || strings.Contains(out, "failed") {
		t.Errorf("status after an interrupted pass: exit %d, want 0 and \"interrupted\"\nout %s\nerr %s", code, out, stderr)
	}
}
