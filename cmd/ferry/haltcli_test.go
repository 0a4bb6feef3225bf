package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// ferryCommand finds a ferry command line in advice ("ferry sync: ..." is the
// prefix of an error message, not a command).
var ferryCommand = regexp.MustCompile(`\bferry (sync|reset-sync|resume|sync-now|stop) `)

// TestHaltAdviceWithNonDefaultJobsFile: with the jobs file somewhere of the
// user's choosing, `ferry sync` and `ferry status` give the same advice for
// a missing signature, name the jobs file in every ferry command, and never
// offer `ferry resume` (which only undoes `ferry stop`).
func TestHaltAdviceWithNonDefaultJobsFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	local, remote := filepath.Join(dir, "local"), filepath.Join(dir, "remote")
	cfgPath := filepath.Join(dir, "etc", "ferry jobs.yaml")
	write(t, cfgPath, "state_dir: "+filepath.Join(dir, "state")+"\njobs:\n  - name: j\n    local: "+local+
		"\n    remote: "+remote+"\n    local_signature: .sig\n")
	write(t, filepath.Join(local, ".sig"), "")
	write(t, filepath.Join(local, "a.txt"), "a")
	if err := os.MkdirAll(remote, 0o755); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, ctx, "sync", "--config", cfgPath, "j"); code != exitOK {
		t.Fatalf("first pass: exit %d: %s", code, stderr)
	}
	if err := os.Remove(filepath.Join(local, ".sig")); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCLI(t, ctx, "sync", "--config", cfgPath, "j")
	if code != exitHalted {
		t.Fatalf("exit %d, want %d: %s%s", code, exitHalted, out, stderr)
	}
	_, status, _ := runCLI(t, ctx, "status", "--config", cfgPath)
	touch := "touch " + filepath.Join(local, ".sig")
	again := "ferry sync --config '" + cfgPath + "' j"
	for name, text := range map[string]string{"ferry sync": stderr, "ferry status": status} {
		if !strings.Contains(text, touch) || !strings.Contains(text, again) {
			t.Errorf("%s does not say %q then %q:\n%s", name, touch, again, text)
		}
		if strings.Contains(text, "ferry resume") {
			t.Errorf("%s offers ferry resume for a halt:\n%s", name, text)
		}
		for _, l := range strings.Split(text, "\n") {
			if ferryCommand.MatchString(l) && !strings.Contains(l, "--config '"+cfgPath+"'") {
				t.Errorf("%s: a command without the jobs file: %q", name, l)
			}
		}
	}
}
