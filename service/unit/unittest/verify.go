// Package unittest checks generated systemd units with systemd's own
// parser, `systemd-analyze verify`.
package unittest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RequireEnv, when set, makes a missing systemd-analyze a failure rather
// than a skip (CI sets it).
const RequireEnv = "FERRY_REQUIRE_SYSTEMD_ANALYZE"

// Verify runs `systemd-analyze verify` on the unit file at path (as a user
// unit with user set) and fails the test on a non-zero exit or on any line
// it prints about the unit: systemd only warns, exit 0, about an unknown
// or misspelt directive, which it then ignores. It skips when
// systemd-analyze is missing, unless RequireEnv is set.
func Verify(t *testing.T, path string, user bool) {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		msg := "unit check needs systemd-analyze (apt-get install systemd): " + err.Error()
		if os.Getenv(RequireEnv) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	args := []string{"verify", path}
	if user {
		args = []string{"--user", "verify", path}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sa, args...)
	// A user manager needs a runtime directory; a container has none.
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+t.TempDir(), "SYSTEMD_LOG_COLOR=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	name := filepath.Base(path)
	var about []string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, name) {
			about = append(about, l)
		}
	}
	if err != nil || len(about) > 0 {
		t.Fatalf("systemd-analyze %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	if out.Len() > 0 {
		t.Logf("systemd-analyze %s (nothing about %s):\n%s", strings.Join(args, " "), name, out.String())
	}
}
