package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/service/unit"
	"github.com/ferry-sync/ferry/transport/server"
)

// serveOnly are install-service's flags for --serve alone.
var serveOnly = []string{"user", "listen", "udp-port", "root", "authorized-keys", "host-key", "state-dir"}

// defaultServerConfig is the server.yaml `ferry install-service --serve`
// reads when given neither --config nor --root.
const defaultServerConfig = "/etc/ferry/server.yaml"

func newInstallServiceCommand() *command {
	fs := pflag.NewFlagSet("install-service", pflag.ContinueOnError)
	cfgPath := fs.String("config", "", "jobs file the service runs (default $FERRY_CONFIG or ~/.config/ferry/jobs.yaml); with --serve, the server.yaml (default "+defaultServerConfig+" unless --root is given)")
	dir := fs.String("dir", "", "where to write the unit (default ~/.config/systemd/user, with --serve "+unit.SystemDir+")")
	printOnly := fs.Bool("print", false, "print the unit instead of writing it")
	binary := fs.String("binary", "", "the ferry the unit runs (default this one, symlinks resolved)")
	serve := fs.Bool("serve", false, "write a hardened system unit for the server, ferry serve, instead ("+unit.ServeName+"); takes serve's flags")
	runAs := fs.String("user", unit.DefaultUser, "with --serve: the system user the server runs as")
	sf := addServeFlags(fs)
	for _, name := range serveOnly {
		if f := fs.Lookup(name); f != nil && name != "user" {
			f.Usage = "with --serve: " + f.Usage
		}
	}
	fs.Lookup("state-dir").Usage = "with --serve: scan caches and the host key (default " + unit.StateDirectory + ", made by systemd, unless server.yaml names one)"
	return &command{
		name:    "install-service",
		summary: "write a systemd user unit that runs `ferry run`, or with --serve a system unit for `ferry serve`",
		usage:   "[--config FILE] [--dir DIR | --print] | --serve [--user NAME] (--config server.yaml | --root DIR --authorized-keys FILE) [serve flags]",
		flags:   fs,
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usageError{"install-service takes no arguments"}
			}
			if err := unit.Supported(runtime.GOOS); err != nil {
				return err
			}
			bin, note, err := serviceBinary(*binary)
			if err != nil {
				return err
			}
			if *serve {
				err = installServer(e, sf, *cfgPath, bin, *runAs, *dir, *printOnly)
			} else {
				for _, name := range serveOnly {
					if sf.given(name) {
						return usageError{fmt.Sprintf("--%s is for --serve", name)}
					}
				}
				err = installAgent(e, *cfgPath, bin, *dir, *printOnly)
			}
			if err == nil && note != "" {
				fmt.Fprintln(e.stderr, note)
			}
			return err
		},
	}
}

// serviceBinary is the absolute, symlink-free path of the ferry a unit
// runs: a unit naming a symlink or a relative ./bin/ferry would run
// something else once that changes. note, if not empty, says that it is
// not the ferry on PATH.
func serviceBinary(given string) (bin, note string, err error) {
	bin = given
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return "", "", fmt.Errorf("unable to find the ferry binary (pass --binary): %w", err)
		}
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return "", "", fmt.Errorf("unable to find the ferry binary %s: %w", bin, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", "", usageError{fmt.Sprintf("unable to find the ferry binary %s: %v", abs, err)}
	}
	if given == "" {
		// Running ./bin/ferry from a source tree writes a unit that runs
		// the build output: say so when it is not the installed ferry.
		onPath, err := exec.LookPath("ferry")
		if err == nil {
			onPath, err = filepath.Abs(onPath)
		}
		if err == nil {
			onPath, err = filepath.EvalSymlinks(onPath)
		}
		if err != nil || onPath != real {
			note = fmt.Sprintf("note: the unit runs %s, which is not the ferry on your PATH; install ferry first (make install) or pass --binary", real)
		}
	}
	return real, note, nil
}

func installAgent(e *env, cfgPath, bin, dir string, printOnly bool) error {
	if _, _, err := loadJob(cfgPath, ""); err != nil {
		return err
	}
	if cfgPath == "" {
		cfgPath = defaultConfigPath()
	}
	cfg, err := filepath.Abs(cfgPath)
	if err != nil {
		return fmt.Errorf("unable to find the jobs file %s: %w", cfgPath, err)
	}
	if printOnly {
		if err := unit.CheckAgent(bin, cfg); err != nil {
			return err
		}
		_, err := fmt.Fprint(e.stdout, unit.Unit(bin, cfg))
		return err
	}
	if dir == "" {
		if dir, err = unit.DefaultDir(); err != nil {
			return err
		}
	}
	path, err := unit.Install(dir, bin, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s\nenable it with:\n  systemctl --user daemon-reload\n  systemctl --user enable --now ferry\n", path)
	return nil
}

// installServer writes the system unit for `ferry serve` with the serve
// flags given, after checking that the server could start with them: the
// unit's sandbox is made of the paths they name.
func installServer(e *env, sf *serveFlags, cfgPath, bin, runAs, dir string, printOnly bool) error {
	if cfgPath == "" && *sf.root == "" && *sf.authKeys == "" {
		cfgPath = defaultServerConfig
	}
	abs := func(p *string) error {
		if *p == "" {
			return nil
		}
		a, err := filepath.Abs(*p)
		*p = a
		return err
	}
	for _, p := range []*string{&cfgPath, sf.root, sf.authKeys, sf.hostKey, sf.stateDir} {
		if err := abs(p); err != nil {
			return err
		}
	}
	flags, err := sf.server(cfgPath, nil)
	if err != nil {
		return err
	}
	// The state directory: the one given, or the file's state_dir, or
	// else the one systemd makes for the service (the default under the
	// home of whoever runs this command is no place for a system service).
	stateGiven := sf.given("state-dir")
	if cfgPath != "" && !stateGiven {
		sc, err := config.LoadServer(cfgPath)
		if err != nil {
			return err
		}
		stateGiven = !sc.StateDirFromDefault
	}
	if !stateGiven {
		flags.StateDir = unit.StateDirectory
	}
	cfg, addr, err := flags.Config()
	if err != nil {
		return configError(err)
	}
	s := &unit.Server{Binary: bin, User: runAs, StateDir: cfg.StateDir}
	s.Args = []string{"serve"}
	add := func(name, v string) { s.Args = append(s.Args, "--"+name, v) }
	if cfgPath != "" {
		add("config", cfgPath)
		s.Reads = append(s.Reads, cfgPath)
	}
	for _, f := range []struct {
		name string
		v    string
	}{{"root", *sf.root}, {"authorized-keys", *sf.authKeys}, {"listen", *sf.listen}, {"udp-port", strconv.Itoa(*sf.udpPort)}, {"host-key", *sf.hostKey}} {
		if sf.given(f.name) {
			add(f.name, f.v)
		}
	}
	if !stateGiven || sf.given("state-dir") {
		add("state-dir", cfg.StateDir)
	}
	users := cfg.Users
	if cfg.Root != "" {
		users = []server.User{{Root: cfg.Root, AuthorizedKeys: cfg.AuthorizedKeys}}
	}
	for _, u := range users {
		if err := mustExist("served folder", u.Root, true); err != nil {
			return err
		}
		if err := mustExist("authorized_keys file", u.AuthorizedKeys, false); err != nil {
			return err
		}
		s.Roots = append(s.Roots, u.Root)
		s.Reads = append(s.Reads, u.AuthorizedKeys)
	}
	if filepath.Dir(cfg.HostKeyPath) != filepath.Clean(cfg.StateDir) {
		// Outside its state directory the sandbox cannot create it.
		if err := mustExist("host key", cfg.HostKeyPath, false); err != nil {
			return usageError{err.Error() + "; leave --host-key out, or create the key first: ssh-keygen -t ed25519 -N '' -f " + cfg.HostKeyPath}
		}
		s.Reads = append(s.Reads, cfg.HostKeyPath)
	}
	if cfg.StateDir != unit.StateDirectory {
		if err := mustExist("state directory", cfg.StateDir, true); err != nil {
			return err
		}
	}
	if _, port, err := net.SplitHostPort(addr); err == nil {
		n, _ := strconv.Atoi(port)
		s.LowPort = n > 0 && n < 1024
	}
	if err := s.EnsureValid(); err != nil {
		return usageError{err.Error()}
	}
	if printOnly {
		_, err := fmt.Fprint(e.stdout, s.Text())
		return err
	}
	if dir == "" {
		dir = unit.SystemDir
	}
	path, err := unit.InstallServer(dir, s)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s\n", path)
	if _, err := user.Lookup(runAs); err != nil {
		fmt.Fprintf(e.stdout, "create the user it runs as:\n  useradd --system --home-dir %s --shell /usr/sbin/nologin %s\n", unit.StateDirectory, runAs)
	}
	fmt.Fprintf(e.stdout, "user %s must be able to write %s and read %s\n", runAs, strings.Join(s.Roots, ", "), strings.Join(s.Reads, ", "))
	fmt.Fprintf(e.stdout, "enable it with:\n  systemctl daemon-reload\n  systemctl enable --now %s\n", strings.TrimSuffix(unit.ServeName, ".service"))
	return nil
}

// mustExist is a usage error (exit 2) unless path exists and is, or is
// not, a directory.
func mustExist(what, path string, dir bool) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return usageError{fmt.Sprintf("the %s %s does not exist", what, path)}
	case err != nil:
		return usageError{fmt.Sprintf("unable to use the %s %s: %v", what, path, err)}
	case dir && !fi.IsDir():
		return usageError{fmt.Sprintf("the %s %s is not a folder", what, path)}
	case !dir && fi.IsDir():
		return usageError{fmt.Sprintf("the %s %s is a folder, not a file", what, path)}
	}
	return nil
}
