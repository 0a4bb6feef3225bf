package unit

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/service/unit/unittest"
)

// all returns every value of each SECTION.KEY, in order.
func all(text string) map[string][]string {
	out := map[string][]string{}
	section := ""
	for _, l := range strings.Split(text, "\n") {
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

func testServer() *Server {
	return &Server{
		Binary: "/usr/local/bin/ferry", Args: []string{"serve", "--config", "/etc/ferry/server.yaml", "--state-dir", StateDirectory},
		User: "ferry", Roots: []string{"/srv/alice", "/srv/bob"}, StateDir: StateDirectory,
		Reads: []string{"/etc/ferry/server.yaml", "/etc/ferry/alice.keys"},
	}
}

func TestServerUnitIsHardened(t *testing.T) {
	d := all(testServer().Text())
	for k, want := range map[string]string{
		"Service.ExecStart":                "/usr/local/bin/ferry serve --config /etc/ferry/server.yaml --state-dir /var/lib/ferry",
		"Service.User":                     "ferry",
		"Service.Restart":                  "on-failure",
		"Service.RestartPreventExitStatus": "2",
		"Service.StateDirectory":           "ferry",
		"Service.ProtectSystem":            "strict",
		"Service.ReadWritePaths":           "/srv/alice /srv/bob",
		"Service.ProtectHome":              "yes",
		"Service.PrivateTmp":               "yes",
		"Service.PrivateDevices":           "yes",
		"Service.NoNewPrivileges":          "yes",
		"Service.CapabilityBoundingSet":    "",
		"Service.ProtectKernelTunables":    "yes",
		"Service.ProtectKernelModules":     "yes",
		"Service.ProtectKernelLogs":        "yes",
		"Service.ProtectControlGroups":     "yes",
		"Service.RestrictAddressFamilies":  "AF_INET AF_INET6 AF_UNIX",
		"Service.RestrictNamespaces":       "yes",
		"Service.LockPersonality":          "yes",
		"Service.MemoryDenyWriteExecute":   "yes",
		"Service.SystemCallArchitectures":  "native",
		// A deny-list: an allow-list of an older systemd blocks syscalls
		// newer than itself (fchmodat2) with EPERM, and Go's chmod then
		// fails instead of falling back.
		"Service.SystemCallFilter": "~@clock @cpu-emulation @debug @module @mount @obsolete @privileged @raw-io @reboot @swap",
		"Unit.RequiresMountsFor":   "/srv/alice /srv/bob",
		"Install.WantedBy":         "multi-user.target",
	} {
		if got := strings.Join(d[k], "|"); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if _, ok := d["Service.AmbientCapabilities"]; ok {
		t.Errorf("a server on port 33001 gets capabilities: %q", d["Service.AmbientCapabilities"])
	}
}

// TestServerUnitHomeRoots: ProtectHome=yes hides /home whatever
// ReadWritePaths= says, so a root (or any file the server needs) under a
// home directory turns it to read-only, where ReadWritePaths= lifts the
// roots back to writable.
func TestServerUnitHomeRoots(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Server)
		want   string
	}{
		{"none under /home", func(*Server) {}, "yes"},
		{"root under /home", func(s *Server) { s.Roots = append(s.Roots, "/home/ann/share") }, "read-only"},
		{"/home itself", func(s *Server) { s.Roots = []string{"/home"} }, "read-only"},
		{"/homework is not /home", func(s *Server) { s.Roots = []string{"/homework"} }, "yes"},
		{"keys under /root", func(s *Server) { s.Reads = append(s.Reads, "/root/keys") }, "read-only"},
		{"binary under /home", func(s *Server) { s.Binary = "/home/ann/go/bin/ferry" }, "read-only"},
		{"state under /run/user", func(s *Server) { s.StateDir = "/run/user/1000/ferry" }, "read-only"},
	} {
		s := testServer()
		tc.change(s)
		d := all(s.Text())
		if got := strings.Join(d["Service.ProtectHome"], "|"); got != tc.want {
			t.Errorf("%s: ProtectHome=%s, want %s", tc.name, got, tc.want)
		}
		for _, r := range s.Roots {
			if !slices.Contains(strings.Fields(strings.Join(d["Service.ReadWritePaths"], " ")), r) {
				t.Errorf("%s: ReadWritePaths %q lacks %s", tc.name, d["Service.ReadWritePaths"], r)
			}
		}
	}
}

// TestServerUnitTmpRoots: PrivateTmp= gives the service an empty /tmp, so
// a root there would be missing and the unit would not start.
func TestServerUnitTmpRoots(t *testing.T) {
	s := testServer()
	if got := all(s.Text())["Service.PrivateTmp"]; !slices.Equal(got, []string{"yes"}) {
		t.Fatalf("PrivateTmp = %q", got)
	}
	s.Roots = []string{"/var/tmp/share"}
	if got := all(s.Text())["Service.PrivateTmp"]; !slices.Equal(got, []string{"no"}) {
		t.Fatalf("root in /var/tmp: PrivateTmp = %q, want no", got)
	}
}

func TestServerUnitOwnStateDirAndLowPort(t *testing.T) {
	s := testServer()
	s.StateDir = "/srv/ferry-state"
	s.LowPort = true
	d := all(s.Text())
	if _, ok := d["Service.StateDirectory"]; ok {
		t.Error("StateDirectory= with a state directory of its own")
	}
	if got := d["Service.ReadWritePaths"]; !slices.Equal(got, []string{"/srv/ferry-state", "/srv/alice /srv/bob"}) {
		t.Errorf("ReadWritePaths = %q", got)
	}
	if got := d["Service.AmbientCapabilities"]; !slices.Equal(got, []string{"CAP_NET_BIND_SERVICE"}) {
		t.Errorf("AmbientCapabilities = %q", got)
	}
	if got := d["Service.CapabilityBoundingSet"]; !slices.Equal(got, []string{"CAP_NET_BIND_SERVICE"}) {
		t.Errorf("CapabilityBoundingSet = %q", got)
	}
}

func TestServerUnitQuotesPaths(t *testing.T) {
	s := testServer()
	s.Roots = []string{`/srv/50% "share"`, `/srv/$HOME`}
	d := all(s.Text())
	if got, want := d["Service.ReadWritePaths"][0], `"/srv/50%% \"share\"" /srv/$HOME`; got != want {
		t.Fatalf("ReadWritePaths = %s, want %s", got, want)
	}
}

func TestInstallServerRefuses(t *testing.T) {
	dir := t.TempDir()
	for name, change := range map[string]func(*Server){
		"user with a space":  func(s *Server) { s.User = "fer ry" },
		"no user":            func(s *Server) { s.User = "" },
		"no roots":           func(s *Server) { s.Roots = nil },
		"relative root":      func(s *Server) { s.Roots = []string{"srv"} },
		"relative binary":    func(s *Server) { s.Binary = "./bin/ferry" },
		"control in a read":  func(s *Server) { s.Reads = []string{"/etc/k\n"} },
		"control in an arg":  func(s *Server) { s.Args = append(s.Args, "--listen", ":1\n") },
		"relative state dir": func(s *Server) { s.StateDir = "state" },
	} {
		s := testServer()
		change(s)
		if _, err := InstallServer(dir, s); err == nil {
			t.Errorf("%s: installed", name)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("refused installs left %d files", len(ents))
	}
	path, err := InstallServer(filepath.Join(dir, "system"), testServer())
	if err != nil || path != filepath.Join(dir, "system", ServeName) {
		t.Fatalf("InstallServer = %q, %v", path, err)
	}
}

// TestUnitsPassSystemdAnalyze checks both units with systemd's own parser,
// which refuses what the tests above cannot see: a misspelt directive, a
// value systemd cannot parse.
func TestUnitsPassSystemdAnalyze(t *testing.T) {
	bin, err := os.Executable() // verify wants ExecStart to be executable
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	agent, err := Install(filepath.Join(dir, "user"), bin, "/etc/ferry/jobs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	unittest.Verify(t, agent, true)
	for name, change := range map[string]func(*Server){
		"plain":          func(*Server) {},
		"home and tmp":   func(s *Server) { s.Roots = []string{"/home/ann/share", "/tmp/x"} },
		"own state, :22": func(s *Server) { s.StateDir = "/srv/state"; s.LowPort = true },
		"awkward paths":  func(s *Server) { s.Roots = []string{`/srv/50% "sh are"`, `/srv/back\slash`} },
	} {
		t.Run(name, func(t *testing.T) {
			s := testServer()
			s.Binary = bin
			change(s)
			path, err := InstallServer(t.TempDir(), s)
			if err != nil {
				t.Fatal(err)
			}
			unittest.Verify(t, path, false)
		})
	}
}
