package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/service/api"
)

// versionsOf runs `ferry versions --json` and decodes it.
func versionsOf(t *testing.T, ctx context.Context, cfgPath string, args ...string) []api.Version {
	t.Helper()
	code, out, stderr := runCLI(t, ctx, append([]string{"versions", "--json", "--config", cfgPath, "j"}, args...)...)
	if code != exitOK {
		t.Fatalf("ferry versions %v: exit %d: %s%s", args, code, out, stderr)
	}
	var doc versionsDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("ferry versions --json: %v:\n%s", err, out)
	}
	return doc.Versions
}

// restoreCLI runs `ferry restore` and fails the test unless it exits 0.
func restoreCLI(t *testing.T, ctx context.Context, cfgPath string, args ...string) string {
	t.Helper()
	code, out, stderr := runCLI(t, ctx, append([]string{"restore", "--config", cfgPath}, args...)...)
	if code != exitOK {
		t.Fatalf("ferry restore %v: exit %d: %s%s", args, code, out, stderr)
	}
	return out
}

// mustRead returns a file's content.
func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantVersion checks that vs holds one version of path on side kept for
// reason, with size bytes.
func wantVersion(t *testing.T, vs []api.Version, path, side, reason string, size int) {
	t.Helper()
	for _, v := range vs {
		if v.Path == path && v.Side == side && string(v.Reason) == reason && v.Size == int64(size) {
			return
		}
	}
	t.Fatalf("no %s version of %s on the %s side of %d bytes among %+v", reason, path, side, size, vs)
}

// TestRestoreThroughServe: through a real `ferry serve`, a file deleted or
// overwritten by the other side, on either side, and every file of a
// folder deleted by the other side, leave a version that `ferry restore`
// puts back byte-exact on that side; the next `ferry sync` carries it to
// the other side.
func TestRestoreThroughServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	cfgPath := s.jobs(t, "    direction: two-way\n")
	orig := func(name string) string { return "original \x00\xff of " + name + strings.Repeat("~", len(name)) }
	names := []string{"gone-remote.bin", "gone-local.bin", "over-remote.bin", "over-local.bin", "dir/x.bin", "dir/sub/y.bin"}
	for _, n := range names {
		write(t, filepath.Join(s.local, n), orig(n))
	}
	syncOnce(t, ctx, cfgPath)
	for _, n := range names {
		sameBytes(t, filepath.Join(s.local, n), filepath.Join(s.served, n))
	}
	local := func(n string) string { return filepath.Join(s.local, filepath.FromSlash(n)) }
	served := func(n string) string { return filepath.Join(s.served, filepath.FromSlash(n)) }
	bothHold := func(n, want string) {
		t.Helper()
		if got := mustRead(t, local(n)); got != want {
			t.Errorf("local %s = %q, want %q", n, got, want)
		}
		if got := mustRead(t, served(n)); got != want {
			t.Errorf("served %s = %q, want %q", n, got, want)
		}
	}

	t.Run("deleted by the remote, restored locally", func(t *testing.T) {
		n := "gone-remote.bin"
		os.Remove(served(n))
		syncOnce(t, ctx, cfgPath)
		if _, err := os.Stat(local(n)); !os.IsNotExist(err) {
			t.Fatalf("the deletion did not reach the local side: %v", err)
		}
		wantVersion(t, versionsOf(t, ctx, cfgPath, n), n, "local", "deleted", len(orig(n)))
		out := restoreCLI(t, ctx, cfgPath, "j", n)
		if !strings.Contains(out, "restored "+n+" on the local side: version 1") {
			t.Errorf("restore said:\n%s", out)
		}
		if got := mustRead(t, local(n)); got != orig(n) {
			t.Fatalf("restored %q, want %q", got, orig(n))
		}
		syncOnce(t, ctx, cfgPath)
		bothHold(n, orig(n))
	})

	t.Run("deleted locally, restored on the remote", func(t *testing.T) {
		n := "gone-local.bin"
		os.Remove(local(n))
		syncOnce(t, ctx, cfgPath)
		if _, err := os.Stat(served(n)); !os.IsNotExist(err) {
			t.Fatalf("the deletion did not reach the server: %v", err)
		}
		vs := versionsOf(t, ctx, cfgPath, "--side", "remote", n)
		wantVersion(t, vs, n, "remote", "deleted", len(orig(n)))
		restoreCLI(t, ctx, cfgPath, "--side", "remote", "j", n)
		if got := mustRead(t, served(n)); got != orig(n) {
			t.Fatalf("restored on the server %q, want %q", got, orig(n))
		}
		syncOnce(t, ctx, cfgPath)
		bothHold(n, orig(n))
	})

	t.Run("overwritten by the remote, restored locally", func(t *testing.T) {
		n := "over-remote.bin"
		write(t, served(n), "encrypted by someone else")
		syncOnce(t, ctx, cfgPath)
		bothHold(n, "encrypted by someone else")
		wantVersion(t, versionsOf(t, ctx, cfgPath, n), n, "local", "replaced", len(orig(n)))
		restoreCLI(t, ctx, cfgPath, "j", n)
		if got := mustRead(t, local(n)); got != orig(n) {
			t.Fatalf("restored %q, want %q", got, orig(n))
		}
		// What the restore replaced is itself kept.
		wantVersion(t, versionsOf(t, ctx, cfgPath, "--side", "local", n), n, "local", "restore", len("encrypted by someone else"))
		syncOnce(t, ctx, cfgPath)
		bothHold(n, orig(n))
	})

	t.Run("overwritten locally, restored on the remote", func(t *testing.T) {
		n := "over-local.bin"
		write(t, local(n), "overwritten here")
		syncOnce(t, ctx, cfgPath)
		bothHold(n, "overwritten here")
		wantVersion(t, versionsOf(t, ctx, cfgPath, "--side", "remote", n), n, "remote", "replaced", len(orig(n)))
		restoreCLI(t, ctx, cfgPath, "--side", "remote", "--version", "1", "j", n)
		if got := mustRead(t, served(n)); got != orig(n) {
			t.Fatalf("restored on the server %q, want %q", got, orig(n))
		}
		syncOnce(t, ctx, cfgPath)
		bothHold(n, orig(n))
	})

	t.Run("a conflict's copy, deleted once settled, restored on the remote", func(t *testing.T) {
		// A conflict renames the local edit aside (the copy is the loser's
		// content, nothing is overwritten); deleting the copy later, once
		// the conflict seems settled, deletes it on the server too, which
		// keeps it.
		n, copyName := "both.txt", "both.conflict-mine.txt"
		write(t, local(n), orig(n))
		syncOnce(t, ctx, cfgPath)
		write(t, local(n), "the local edit that loses")
		write(t, served(n), "the remote edit that wins")
		syncOnce(t, ctx, cfgPath)
		bothHold(n, "the remote edit that wins")
		bothHold(copyName, "the local edit that loses")
		os.Remove(local(copyName))
		syncOnce(t, ctx, cfgPath)
		if _, err := os.Stat(served(copyName)); !os.IsNotExist(err) {
			t.Fatalf("the conflict copy's deletion did not reach the server: %v", err)
		}
		wantVersion(t, versionsOf(t, ctx, cfgPath), copyName, "remote", "deleted", len("the local edit that loses"))
		restoreCLI(t, ctx, cfgPath, "--side", "remote", "j", copyName)
		syncOnce(t, ctx, cfgPath)
		bothHold(copyName, "the local edit that loses")
	})

	t.Run("a folder deleted by the remote, restored as of a time", func(t *testing.T) {
		before := time.Now()
		if err := os.RemoveAll(served("dir")); err != nil {
			t.Fatal(err)
		}
		syncOnce(t, ctx, cfgPath)
		if _, err := os.Stat(local("dir")); !os.IsNotExist(err) {
			t.Fatalf("the deletion did not reach the local side: %v", err)
		}
		out := restoreCLI(t, ctx, cfgPath, "--at", before.Format(time.RFC3339Nano), "j", "dir")
		if strings.Count(out, "restored ") != 2 {
			t.Errorf("restore said:\n%s", out)
		}
		syncOnce(t, ctx, cfgPath)
		for _, n := range []string{"dir/x.bin", "dir/sub/y.bin"} {
			bothHold(n, orig(n))
		}
	})
}

func TestParseAt(t *testing.T) {
	now := time.Date(2026, 12, 7, 15, 0, 0, 0, time.Local)
	cases := map[string]time.Time{
		"2026-12-07T14:05:12.5Z":  time.Date(2026, 12, 7, 14, 5, 12, 5e8, time.UTC),
		"2026-12-07 14:05:12":     time.Date(2026, 12, 7, 14, 5, 12, 0, time.Local),
		"2026-12-07 14:05:12.250": time.Date(2026, 12, 7, 14, 5, 12, 25e7, time.Local),
		"2026-12-07 14:05":        time.Date(2026, 12, 7, 14, 5, 0, 0, time.Local),
		"2026-12-07":              time.Date(2026, 12, 7, 0, 0, 0, 0, time.Local),
		"2h":                      now.Add(-2 * time.Hour),
		"-90m":                    now.Add(-90 * time.Minute),
	}
	for in, want := range cases {
		got, err := parseAt(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseAt(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "", "14:05", "2026-13-01"} {
		if _, err := parseAt(bad, now); err == nil {
			t.Errorf("parseAt(%q) accepted", bad)
		}
	}
}

// TestVersionsCommandMistakes: usage mistakes exit 2 and say what to do;
// a restore with nothing to put back exits 1 and names ferry versions.
func TestVersionsCommandMistakes(t *testing.T) {
	ctx := context.Background()
	cfg, local, _ := jobFixture(t, "    direction: two-way\n")
	write(t, filepath.Join(local, "a.txt"), "a")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"restore", "--config", cfg, "--at", "2h", "--version", "1", "j", "a.txt"}, exitConfig, "either --at or --version"},
		{[]string{"restore", "--config", cfg, "--side", "middle", "j", "a.txt"}, exitConfig, `--side: "middle" is not local or remote`},
		{[]string{"restore", "--config", cfg, "--at", "soon", "j", "a.txt"}, exitConfig, `--at "soon" is not a time`},
		{[]string{"restore", "--config", cfg, "j", "../a.txt"}, exitConfig, "invalid path"},
		{[]string{"restore", "--config", cfg, "j", "/elsewhere/a.txt"}, exitConfig, "is not inside the job's local folder"},
		{[]string{"restore", "--config", cfg, "j", ".ferry-versions/a.txt"}, exitConfig, "is the version store itself"},
		{[]string{"restore", "--config", cfg, "j"}, exitConfig, "give a JOB and a PATH"},
		{[]string{"versions", "--config", cfg, "--side", "both", "j"}, exitConfig, `--side "both" is not local or remote`},
		{[]string{"restore", "--config", cfg, "j", "a.txt"}, exitError, "no version to restore"},
		{[]string{"restore", "--config", cfg, "--version", "2", "j", "a.txt"}, exitError, "ferry versions --config"},
	}
	for _, c := range cases {
		code, out, stderr := runCLI(t, ctx, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q (stdout %q); want exit %d and %q", c.args, code, stderr, out, c.code, c.want)
		}
	}
	code, out, stderr := runCLI(t, ctx, "versions", "--config", cfg, "j")
	if code != exitOK || !strings.Contains(out, "no kept versions of anything") {
		t.Errorf("versions of a job that kept none: exit %d, %q %q", code, out, stderr)
	}
}

// TestVersionsShowHostileNamesAsText: a kept name with a terminal escape
// and a newline is printed escaped, on one line, by ferry versions and
// ferry restore; --json keeps it as it is.
func TestVersionsShowHostileNamesAsText(t *testing.T) {
	ctx := context.Background()
	cfg, local, remote := jobFixture(t, "    direction: two-way\n    max_delete: 100%\n")
	name := "evil\x1b]0;pwned\x07\nname.txt"
	write(t, filepath.Join(local, name), "precious")
	if code, out, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j"); code != exitOK {
		t.Fatalf("sync: %d %s %s", code, out, stderr)
	}
	os.Remove(filepath.Join(remote, name))
	if code, out, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j"); code != exitOK {
		t.Fatalf("sync: %d %s %s", code, out, stderr)
	}
	code, out, _ := runCLI(t, ctx, "versions", "--config", cfg, "j")
	if code != exitOK || strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, "deleted by the peer") {
		t.Fatalf("ferry versions printed a raw name (exit %d):\n%q", code, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "pwned") && !strings.Contains(l, "deleted by the peer") {
			t.Errorf("the name broke its line: %q", l)
		}
	}
	if vs := versionsOf(t, ctx, cfg); len(vs) != 1 || vs[0].Path != name {
		t.Fatalf("--json: %+v", vs)
	}
	code, out, stderr := runCLI(t, ctx, "restore", "--config", cfg, "j", name)
	if code != exitOK || strings.ContainsAny(out, "\x1b\x07") || strings.Count(out, "\n") != 2 {
		t.Fatalf("ferry restore (exit %d) printed:\n%q %s", code, out, stderr)
	}
	if got := mustRead(t, filepath.Join(local, name)); got != "precious" {
		t.Fatalf("restored %q", got)
	}
}

// TestRestoreThroughRunningAgentAPI: with `ferry run` holding the job, the
// control API lists the server's kept version of a file the local side
// deleted and restores it on the server; the next pass brings it back to
// the local folder byte-exact.
func TestRestoreThroughRunningAgentAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	const content = "kept by the server \x00\x01"
	write(t, filepath.Join(s.local, "notes.txt"), content)
	write(t, filepath.Join(s.local, "other.txt"), "so that one deletion is within max_delete")
	cfgPath := s.jobs(t, "    direction: two-way\n    interval: 1h\n")
	rj := startRun(t, ctx, cfgPath)
	j := rj.waitFor(t, ctx, "first pass", passAfter(time.Time{}))
	if got := mustRead(t, filepath.Join(s.served, "notes.txt")); got != content {
		t.Fatalf("served %q", got)
	}
	os.Remove(filepath.Join(s.local, "notes.txt"))
	if _, err := rj.c.SyncNow(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	j = rj.waitFor(t, ctx, "the deletion's pass", func(st agent.JobStatus) bool {
		_, err := os.Stat(filepath.Join(s.served, "notes.txt"))
		return passAfter(j.Last.Start)(st) && os.IsNotExist(err)
	})
	list, err := rj.c.Versions(ctx, "j", api.SideRemote, "notes.txt")
	if err != nil || len(list.Versions) != 1 || list.Versions[0].Reason != "deleted" || len(list.Errors) != 0 {
		t.Fatalf("versions: %+v, %v", list, err)
	}
	done, err := rj.c.Restore(ctx, "j", api.RestoreRequest{Path: "notes.txt", Side: api.SideRemote})
	if err != nil || len(done.Restored) != 1 {
		t.Fatalf("restore: %+v, %v", done, err)
	}
	if _, err := rj.c.SyncNow(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	rj.waitFor(t, ctx, "the restore's pass", func(st agent.JobStatus) bool {
		b, err := os.ReadFile(filepath.Join(s.local, "notes.txt"))
		return passAfter(j.Last.Start)(st) && err == nil && string(b) == content
	})
}

// TestRestoreWithALocalRemote: with a local folder as the remote, a file
// deleted or overwritten by either side leaves a version on the side it
// was taken from, which `ferry restore` puts back byte-exact, and the
// next `ferry sync` carries it over.
func TestRestoreWithALocalRemote(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath := filepath.Join(dir, "jobs.yaml")
	write(t, cfgPath, "state_dir: "+filepath.Join(dir, "state")+"\njobs:\n  - name: j\n    local: "+a+"\n    remote: "+b+"\n    direction: two-way\n")
	orig := func(n string) string { return "original \x00\xff of " + n }
	names := []string{"del-by-remote", "del-by-local", "over-by-remote", "over-by-local"}
	for _, n := range names {
		write(t, filepath.Join(a, n), orig(n))
	}
	syncOnce(t, ctx, cfgPath)
	os.Remove(filepath.Join(b, "del-by-remote"))
	os.Remove(filepath.Join(a, "del-by-local"))
	write(t, filepath.Join(b, "over-by-remote"), "new from b")
	write(t, filepath.Join(a, "over-by-local"), "new from a")
	syncOnce(t, ctx, cfgPath)

	for _, c := range []struct{ name, side, reason string }{
		{"del-by-remote", "local", "deleted"},
		{"del-by-local", "remote", "deleted"},
		{"over-by-remote", "local", "replaced"},
		{"over-by-local", "remote", "replaced"},
	} {
		wantVersion(t, versionsOf(t, ctx, cfgPath, "--side", c.side, c.name), c.name, c.side, c.reason, len(orig(c.name)))
		restoreCLI(t, ctx, cfgPath, "--side", c.side, "j", c.name)
	}
	syncOnce(t, ctx, cfgPath)
	for _, n := range names {
		for _, root := range []string{a, b} {
			if got := mustRead(t, filepath.Join(root, n)); got != orig(n) {
				t.Errorf("%s after restore and sync = %q, want %q", filepath.Join(root, n), got, orig(n))
			}
		}
	}
}
