package unit

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// ServeName is the system unit's file name.
const ServeName = "ferry-serve.service"

// ServeHint is what root runs after InstallServer.
const ServeHint = "systemctl daemon-reload && systemctl enable --now ferry-serve"

// SystemDir is where the system unit goes by default.
const SystemDir = "/etc/systemd/system"

// DefaultUser is the account the server runs as unless told otherwise.
const DefaultUser = "ferry"

// StateDirectory is the directory systemd creates for the server, owned
// by its user, under /var/lib.
const StateDirectory = "/var/lib/ferry"

// Server is the system unit running `ferry serve` as a dedicated user in a
// sandbox that can write only the served roots and its state directory.
type Server struct {
	// Binary is the absolute path of ferry; Args follow it ("serve", flags).
	Binary string
	Args   []string
	// User runs the server; its primary group is the group.
	User string
	// Roots are the served folders: the only places besides StateDir it
	// writes, and mounts the unit waits for.
	Roots []string
	// StateDir holds scan caches and the host key. StateDirectory is
	// created by systemd; any other must exist and is made writable.
	StateDir string
	// Reads are the other files it opens (authorized_keys, host key,
	// server.yaml): they decide whether home directories stay visible.
	Reads []string
	// LowPort: it listens on a port below 1024, which needs
	// CAP_NET_BIND_SERVICE.
	LowPort bool
}

// homes are the trees ProtectHome= covers.
var homes = []string{"/home", "/root", "/run/user"}

var validUser = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// EnsureValid checks that every path is absolute and printable and the
// user name one systemd takes.
func (s *Server) EnsureValid() error {
	if !validUser.MatchString(s.User) {
		return fmt.Errorf("unable to write the systemd unit: %q is not a user name (letters, digits, '_', '.', '-')", s.User)
	}
	if len(s.Roots) == 0 {
		return fmt.Errorf("unable to write the systemd unit: no folder to serve")
	}
	if err := checkPath("ferry binary", s.Binary); err != nil {
		return err
	}
	if err := checkPath("state directory", s.StateDir); err != nil {
		return err
	}
	for _, p := range s.Roots {
		if err := checkPath("served folder", p); err != nil {
			return err
		}
	}
	for _, p := range s.Reads {
		if err := checkPath("server file", p); err != nil {
			return err
		}
	}
	for _, a := range s.Args {
		if strings.ContainsFunc(a, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fmt.Errorf("unable to write the systemd unit: the argument %q contains a control character", a)
		}
	}
	return nil
}

// under says whether p is one of trees or inside one.
func under(p string, trees []string) bool {
	p = filepath.Clean(p)
	for _, t := range trees {
		if p == t || strings.HasPrefix(p, t+"/") {
			return true
		}
	}
	return false
}

// protectHome is "yes" (home directories invisible) unless something the
// server needs lives under one: then "read-only", and ReadWritePaths=
// makes the roots there writable again. ProtectHome=yes would hide such a
// root whatever ReadWritePaths= says.
func (s *Server) protectHome() string {
	if slices.ContainsFunc(s.paths(), func(p string) bool { return under(p, homes) }) {
		return "read-only"
	}
	return "yes"
}

// tmps are the trees PrivateTmp= replaces with the service's own.
var tmps = []string{"/tmp", "/var/tmp"}

// privateTmp is "yes" unless a path the server needs is in /tmp or
// /var/tmp: a private /tmp would hide it, and the unit would not start.
func (s *Server) privateTmp() string {
	if slices.ContainsFunc(s.paths(), func(p string) bool { return under(p, tmps) }) {
		return "no"
	}
	return "yes"
}

func (s *Server) paths() []string {
	return append(append([]string{s.Binary, s.StateDir}, s.Roots...), s.Reads...)
}

// deniedSyscalls are the syscall groups the server never needs: a trace of
// `ferry demo` (client and server) called none of them.
const deniedSyscalls = "~@clock @cpu-emulation @debug @module @mount @obsolete @privileged @raw-io @reboot @swap"

// Text returns the unit.
func (s *Server) Text() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	roots := make([]string, len(s.Roots))
	for i, r := range s.Roots {
		roots[i] = pathArg(filepath.Clean(r))
	}
	w("[Unit]")
	w("Description=ferry server (ferry serve)")
	w("After=network.target")
	// A root on a disk in /etc/fstab is mounted before the server starts.
	w("RequiresMountsFor=%s", strings.Join(roots, " "))
	w("")
	w("[Service]")
	w("Type=simple")
	args := []string{arg(s.Binary)}
	for _, a := range s.Args {
		args = append(args, arg(a))
	}
	w("ExecStart=%s", strings.Join(args, " "))
	w("User=%s", s.User)
	w("Restart=on-failure")
	w("RestartSec=5s")
	b.WriteString(noRestartOnConfigError)
	w("KillSignal=SIGTERM")
	w("TimeoutStopSec=30s")
	w("")
	w("# The sandbox: the server writes only the roots and its state.")
	if filepath.Clean(s.StateDir) == StateDirectory {
		w("StateDirectory=%s", filepath.Base(StateDirectory))
		w("StateDirectoryMode=0700")
	} else {
		w("ReadWritePaths=%s", pathArg(filepath.Clean(s.StateDir)))
	}
	w("ProtectSystem=strict")
	w("ReadWritePaths=%s", strings.Join(roots, " "))
	w("ProtectHome=%s", s.protectHome())
	w("PrivateTmp=%s", s.privateTmp())
	w("PrivateDevices=yes")
	w("NoNewPrivileges=yes")
	if s.LowPort {
		w("AmbientCapabilities=CAP_NET_BIND_SERVICE")
		w("CapabilityBoundingSet=CAP_NET_BIND_SERVICE")
	} else {
		w("CapabilityBoundingSet=")
	}
	w("ProtectKernelTunables=yes")
	w("ProtectKernelModules=yes")
	w("ProtectKernelLogs=yes")
	w("ProtectControlGroups=yes")
	w("ProtectClock=yes")
	w("ProtectHostname=yes")
	w("ProtectProc=invisible")
	w("RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX")
	w("RestrictNamespaces=yes")
	w("RestrictRealtime=yes")
	w("RestrictSUIDSGID=yes")
	w("LockPersonality=yes")
	w("MemoryDenyWriteExecute=yes")
	w("RemoveIPC=yes")
	w("SystemCallArchitectures=native")
	// A deny-list, not the allow-list @system-service: systemd before 255
	// does not list fchmodat2 there, which Go's os.Root.Chmod tries first
	// and falls back from only on ENOSYS, so every chmod would fail.
	w("SystemCallFilter=%s", deniedSyscalls)
	w("SystemCallErrorNumber=EPERM")
	w("")
	w("[Install]")
	w("WantedBy=multi-user.target")
	return b.String()
}

// pathArg writes one path of a space-separated path list: "%" is doubled
// (specifiers are expanded there, "$" is not) and a path with spaces,
// quotes or backslashes is double-quoted with those escaped.
func pathArg(p string) string {
	p = strings.ReplaceAll(p, "%", "%%")
	if !strings.ContainsAny(p, " \t\"'\\") {
		return p
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(p) + `"`
}

// InstallServer writes dir/ferry-serve.service (dir is SystemDir in normal
// use), replacing any earlier one atomically, and returns its path; then
// run ServeHint.
func InstallServer(dir string, s *Server) (string, error) {
	if err := s.EnsureValid(); err != nil {
		return "", err
	}
	return write(dir, ServeName, s.Text())
}
