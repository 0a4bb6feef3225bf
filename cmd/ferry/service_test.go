package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/service/unit/unittest"
)

// unitLines returns SECTION.KEY -> values of a unit file.
func unitLines(t *testing.T, path string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	section := ""
	for _, l := range strings.Split(read(t, path), "\n") {
		switch {
		case strings.HasPrefix(l, "["):
			section = strings.Trim(l, "[]")
		case l == "" || strings.HasPrefix(l, "#"):
		default:
			k, v, _ := strings.Cut(l, "=")
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	return out
}

// linuxOnly skips where install-service refuses to run (no systemd).
func linuxOnly(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("install-service writes systemd units, which only Linux has")
	}
}

func thisBinary(t *testing.T) string {
	t.Helper()
	bin, err := os.Executable()
	if err == nil {
		bin, err = filepath.EvalSymlinks(bin)
	}
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// execStart runs a unit's ExecStart= (the test binary standing in for
// ferry, as TestMain arranges) and returns its exit code.
func execStart(t *testing.T, units map[string][]string) (int, string) {
	t.Helper()
	argv := strings.Fields(units["Service.ExecStart"][0]) // test paths have no spaces
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("unable to run %v: %v", argv, err)
	}
	return 0, string(out)
}

// TestInstallServiceUnit: the unit runs this binary by its absolute path,
// names the jobs file by its absolute path, and does not restart on the
// exit code a config error gives: run as the unit would, a broken jobs
// file exits with exactly that code.
func TestInstallServiceUnit(t *testing.T) {
	linuxOnly(t)
	cfg, _, _ := jobFixture(t, "")
	dir := filepath.Join(t.TempDir(), "units")
	t.Chdir(filepath.Dir(cfg))
	code, out, errs := runCLI(t, context.Background(), "install-service", "--dir", dir, "--config", filepath.Base(cfg))
	if code != 0 {
		t.Fatalf("install-service: %d\n%s%s", code, out, errs)
	}
	path := filepath.Join(dir, "ferry.service")
	if !strings.Contains(out, "wrote "+path) {
		t.Fatalf("output: %s", out)
	}
	u := unitLines(t, path)
	if got, want := u["Service.ExecStart"], []string{thisBinary(t) + " run --config " + cfg}; !slices.Equal(got, want) {
		t.Fatalf("ExecStart = %q, want %q", got, want)
	}
	if got := u["Service.RestartPreventExitStatus"]; !slices.Equal(got, []string{"2"}) {
		t.Fatalf("RestartPreventExitStatus = %q, want 2", got)
	}
	unittest.Verify(t, path, true)

	write(t, cfg, "jobs: [\n")
	if code, out := execStart(t, u); code != exitConfig {
		t.Fatalf("ExecStart with a broken jobs file exits %d, want %d (RestartPreventExitStatus):\n%s", code, exitConfig, out)
	}
}

// TestInstallServiceDefaultConfig: without --config it takes the jobs file
// every other command takes, instead of failing.
func TestInstallServiceDefaultConfig(t *testing.T) {
	linuxOnly(t)
	cfg, _, _ := jobFixture(t, "")
	t.Setenv("FERRY_CONFIG", cfg)
	dir := t.TempDir()
	code, out, errs := runCLI(t, context.Background(), "install-service", "--dir", dir)
	if code != 0 {
		t.Fatalf("install-service without --config: %d\n%s%s", code, out, errs)
	}
	if got := unitLines(t, filepath.Join(dir, "ferry.service"))["Service.ExecStart"]; !slices.Equal(got, []string{thisBinary(t) + " run --config " + cfg}) {
		t.Fatalf("ExecStart = %q", got)
	}
	// No jobs file there: say where it was looked for, exit 2, write nothing.
	t.Setenv("FERRY_CONFIG", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir = t.TempDir()
	code, _, errs = runCLI(t, context.Background(), "install-service", "--dir", dir)
	if code != exitConfig || !strings.Contains(errs, filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "ferry", "jobs.yaml")) {
		t.Fatalf("no jobs file: %d %s", code, errs)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("wrote %d files", len(ents))
	}
}

// TestInstallServiceBinaryIsResolved: --binary given as a relative
// symlink (./bin/ferry) is written as the absolute path it resolves to.
func TestInstallServiceBinaryIsResolved(t *testing.T) {
	linuxOnly(t)
	cfg, _, _ := jobFixture(t, "")
	tmp := t.TempDir()
	if err := os.Mkdir(filepath.Join(tmp, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(thisBinary(t), filepath.Join(tmp, "bin", "ferry")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(tmp)
	code, out, errs := runCLI(t, context.Background(), "install-service", "--print", "--binary", "./bin/ferry", "--config", cfg)
	if code != 0 || !strings.Contains(out, "\nExecStart="+thisBinary(t)+" run --config "+cfg+"\n") {
		t.Fatalf("install-service --print --binary ./bin/ferry: %d\n%s%s", code, out, errs)
	}
}

// serverFixture writes a server.yaml with two users whose roots and keys
// are real.
func serverFixture(t *testing.T) (cfg, alice, bob, keys string) {
	t.Helper()
	dir := t.TempDir()
	alice, bob = filepath.Join(dir, "alice"), filepath.Join(dir, "bob")
	keys = filepath.Join(dir, "keys")
	for _, d := range []string{alice, bob} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	line, _ := newKey(t, filepath.Join(dir, "id_ed25519"))
	write(t, keys, line+"\n")
	cfg = filepath.Join(dir, "server.yaml")
	write(t, cfg, "listen: 127.0.0.1:0\nusers:\n  - {name: alice, root: "+alice+", authorized_keys: "+keys+"}\n  - {name: bob, root: "+bob+", authorized_keys: "+keys+"}\n")
	return cfg, alice, bob, keys
}

// TestInstallServiceServe: the system unit for `ferry serve` runs as its
// own user, can write exactly the served roots (read from server.yaml)
// and its state directory, passes systemd-analyze verify, and exits 2 as
// the unit would run it when the keys file is gone.
func TestInstallServiceServe(t *testing.T) {
	linuxOnly(t)
	cfg, alice, bob, keys := serverFixture(t)
	dir := t.TempDir()
	code, out, errs := runCLI(t, context.Background(), "install-service", "--serve", "--user", "ferrysrv", "--dir", dir, "--config", cfg)
	if code != 0 {
		t.Fatalf("install-service --serve: %d\n%s%s", code, out, errs)
	}
	path := filepath.Join(dir, "ferry-serve.service")
	u := unitLines(t, path)
	for k, want := range map[string]string{
		"Service.ExecStart":                thisBinary(t) + " serve --config " + cfg + " --state-dir /var/lib/ferry",
		"Service.User":                     "ferrysrv",
		"Service.StateDirectory":           "ferry",
		"Service.ReadWritePaths":           alice + " " + bob,
		"Unit.RequiresMountsFor":           alice + " " + bob,
		"Service.ProtectSystem":            "strict",
		"Service.NoNewPrivileges":          "yes",
		"Service.RestrictAddressFamilies":  "AF_INET AF_INET6 AF_UNIX",
		"Service.RestartPreventExitStatus": "2",
		// The roots are in /tmp here: a private /tmp would hide them.
		"Service.PrivateTmp": "no",
	} {
		if got := strings.Join(u[k], "|"); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(out, "useradd --system") || !strings.Contains(out, "systemctl enable --now ferry-serve") {
		t.Errorf("output does not say how to create the user and enable the unit:\n%s", out)
	}
	unittest.Verify(t, path, false)

	if err := os.Remove(keys); err != nil {
		t.Fatal(err)
	}
	if code, out := execStart(t, u); code != exitConfig {
		t.Fatalf("ExecStart without its keys file exits %d, want %d (RestartPreventExitStatus):\n%s", code, exitConfig, out)
	}
}

// TestInstallServiceServeFlags: with --root and --authorized-keys instead
// of a server.yaml, the flags given are passed on with absolute paths, a
// port below 1024 gets CAP_NET_BIND_SERVICE, and a state directory given
// is made writable instead of systemd's own.
func TestInstallServiceServeFlags(t *testing.T) {
	linuxOnly(t)
	_, alice, _, keys := serverFixture(t)
	state := t.TempDir()
	t.Chdir(filepath.Dir(alice))
	code, out, errs := runCLI(t, context.Background(), "install-service", "--serve", "--print",
		"--root", "alice", "--authorized-keys", "keys", "--listen", ":22", "--udp-port", "0", "--state-dir", state)
	if code != 0 {
		t.Fatalf("install-service --serve --print: %d\n%s%s", code, out, errs)
	}
	p := filepath.Join(t.TempDir(), "ferry-serve.service")
	write(t, p, out)
	u := unitLines(t, p)
	for k, want := range map[string]string{
		"Service.ExecStart":           thisBinary(t) + " serve --root " + alice + " --authorized-keys " + keys + " --listen :22 --udp-port 0 --state-dir " + state,
		"Service.User":                "ferry",
		"Service.ReadWritePaths":      state + "|" + alice,
		"Service.AmbientCapabilities": "CAP_NET_BIND_SERVICE",
	} {
		if got := strings.Join(u[k], "|"); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if _, ok := u["Service.StateDirectory"]; ok {
		t.Error("StateDirectory= beside a state directory of its own")
	}
	unittest.Verify(t, p, false)
}

// TestInstallServiceServeRefuses: what the server could not start with is
// refused at install time with exit 2, and nothing is written.
func TestInstallServiceServeRefuses(t *testing.T) {
	linuxOnly(t)
	cfg, alice, _, keys := serverFixture(t)
	missing := filepath.Join(t.TempDir(), "missing")
	dir := t.TempDir()
	for name, args := range map[string][]string{
		"missing root":        {"--root", missing, "--authorized-keys", keys},
		"missing keys":        {"--root", alice, "--authorized-keys", missing},
		"root without keys":   {"--root", alice},
		"missing server.yaml": {"--config", missing},
		"config and root":     {"--config", cfg, "--root", alice, "--authorized-keys", keys},
		"bad user":            {"--config", cfg, "--user", "no body"},
		"missing state dir":   {"--config", cfg, "--state-dir", missing},
		"missing host key":    {"--config", cfg, "--host-key", missing},
	} {
		code, _, errs := runCLI(t, context.Background(), append([]string{"install-service", "--serve", "--dir", dir}, args...)...)
		if code != exitConfig {
			t.Errorf("%s: exit %d, want %d: %s", name, code, exitConfig, errs)
		}
	}
	// Serve flags without --serve are a mistake too.
	if code, _, errs := runCLI(t, context.Background(), "install-service", "--dir", dir, "--root", alice); code != exitConfig || !strings.Contains(errs, "--serve") {
		t.Errorf("--root without --serve: %d %s", code, errs)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("refused installs wrote %d files", len(ents))
	}
}

// TestServeConfigErrorsExitTwo: every server configuration that cannot
// work exits 2, the code the unit does not restart on; before, a missing
// keys file or a bad --listen exited 1 and the unit restarted every 5 s.
func TestServeConfigErrorsExitTwo(t *testing.T) {
	cfg, alice, _, keys := serverFixture(t)
	missing := filepath.Join(t.TempDir(), "missing")
	bad := filepath.Join(t.TempDir(), "bad.keys")
	write(t, bad, "not a key\n")
	state := t.TempDir()
	for name, args := range map[string][]string{
		"missing keys file":   {"--root", alice, "--authorized-keys", missing},
		"keys file not keys":  {"--root", alice, "--authorized-keys", bad},
		"missing root":        {"--root", missing, "--authorized-keys", keys},
		"bad listen":          {"--root", alice, "--authorized-keys", keys, "--listen", "nowhere"},
		"config and root":     {"--config", cfg, "--root", alice},
		"missing server.yaml": {"--config", missing},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		code, _, errs := runCLI(t, ctx, append([]string{"serve", "--state-dir", state}, args...)...)
		cancel()
		if code != exitConfig {
			t.Errorf("%s: exit %d, want %d: %s", name, code, exitConfig, errs)
		}
	}
}

// TestInstalledServeUnitServes: the unit's ExecStart, run as systemd would
// run it, is a working `ferry serve`: a real `ferry sync` with a real key
// pushes a file into the root, and SIGTERM stops it with exit 0 (no
// restart).
func TestInstalledServeUnitServes(t *testing.T) {
	linuxOnly(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	root, local, state := filepath.Join(dir, "root"), filepath.Join(dir, "local"), filepath.Join(dir, "state")
	mkdirs(t, root, local, state)
	write(t, filepath.Join(local, "a.txt"), "through the unit")
	id := filepath.Join(dir, "id_ed25519")
	line, _ := newKey(t, id)
	keys := filepath.Join(dir, "keys")
	write(t, keys, line+"\n")
	code, out, errs := runCLI(t, ctx, "install-service", "--serve", "--print", "--root", root, "--authorized-keys", keys,
		"--listen", "127.0.0.1:0", "--state-dir", state)
	if code != 0 {
		t.Fatalf("install-service --serve --print: %d\n%s%s", code, out, errs)
	}
	p := filepath.Join(dir, "ferry-serve.service")
	write(t, p, out)
	argv := strings.Fields(unitLines(t, p)["Service.ExecStart"][0])

	log := &serveLog{serving: make(chan string, 1)}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var addr string
	select {
	case addr = <-log.serving:
	case err := <-exited:
		t.Fatalf("the unit's ExecStart exited: %v\n%s", err, log.String())
	case <-ctx.Done():
		t.Fatalf("the unit's ExecStart did not start serving:\n%s", log.String())
	}
	cfg := pushJob(t, dir, "push", local, "ferry://tester@"+addr+"/", id)
	if code, _, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, "j"); code != exitOK {
		t.Errorf("sync through the unit's server: exit %d: %s", code, stderr)
	} else if got := read(t, filepath.Join(root, "a.txt")); got != "through the unit" {
		t.Errorf("root a.txt = %q", got)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("SIGTERM: %v, want exit 0\n%s", err, log.String())
	}
}
