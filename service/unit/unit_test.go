package unit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// directives returns KEY=VALUE lines by section, ignoring comments.
func directives(text string) map[string]string {
	out := map[string]string{}
	section := ""
	for _, l := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(l, "["):
			section = strings.Trim(l, "[]")
		case l == "" || strings.HasPrefix(l, "#"):
		default:
			k, v, _ := strings.Cut(l, "=")
			out[section+"."+k] = v
		}
	}
	return out
}

func TestUnitDirectives(t *testing.T) {
	d := directives(Unit("/usr/local/bin/ferry", "/home/ann/.config/ferry/jobs.yaml"))
	for k, want := range map[string]string{
		"Service.Type":           "simple",
		"Service.ExecStart":      "/usr/local/bin/ferry run --config /home/ann/.config/ferry/jobs.yaml",
		"Service.ExecReload":     "/bin/kill -HUP $MAINPID",
		"Service.Restart":        "on-failure",
		"Service.KillSignal":     "SIGTERM",
		"Install.WantedBy":       "default.target",
		"Unit.Description":       "ferry continuous folder sync",
		"Service.RestartSec":     "5s",
		"Service.TimeoutStopSec": "30s",
		// A config error exits 2: restarting every 5 s cannot fix it.
		"Service.RestartPreventExitStatus": "2",
	} {
		if d[k] != want {
			t.Errorf("%s = %q, want %q", k, d[k], want)
		}
	}
}

func TestUnitQuotesAwkwardPaths(t *testing.T) {
	d := directives(Unit(`/opt/my apps/ferry`, `/home/ann/50% "sync"/$HOME\jobs.yaml`))
	want := `"/opt/my apps/ferry" run --config "/home/ann/50%% \"sync\"/$$HOME\\jobs.yaml"`
	if d["Service.ExecStart"] != want {
		t.Fatalf("ExecStart = %s\n     want %s", d["Service.ExecStart"], want)
	}
}

func TestInstallWritesUnit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "systemd", "user")
	path, err := Install(dir, "/usr/bin/ferry", "/etc/ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, "ferry.service") {
		t.Fatalf("path = %s", path)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != Unit("/usr/bin/ferry", "/etc/ferry.yaml") {
		t.Fatalf("unit file = %q, %v", b, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode = %v", fi.Mode())
	}
	// A second install replaces the first and leaves no temporary file.
	if _, err := Install(dir, "/usr/local/bin/ferry", "/etc/ferry.yaml"); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("dir holds %d entries, want only ferry.service", len(ents))
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "ExecStart=/usr/local/bin/ferry run") {
		t.Fatalf("unit not replaced:\n%s", b)
	}
}

func TestInstallRefusesRelativeOrControlPaths(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range [][2]string{{"ferry", "/etc/f.yaml"}, {"/bin/ferry", "f.yaml"}, {"/bin/ferry", "/etc/f\n.yaml"}} {
		if _, err := Install(dir, tc[0], tc[1]); err == nil {
			t.Errorf("Install(%q, %q) succeeded", tc[0], tc[1])
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("refused installs left %d files", len(ents))
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "/xdg")
	if d, err := DefaultDir(); err != nil || d != "/xdg/systemd/user" {
		t.Fatalf("DefaultDir = %q, %v", d, err)
	}
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("HOME", "/home/ann")
	if d, err := DefaultDir(); err != nil || d != "/home/ann/.config/systemd/user" {
		t.Fatalf("DefaultDir = %q, %v", d, err)
	}
}
