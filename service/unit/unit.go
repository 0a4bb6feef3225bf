package unit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Name is the unit's file name.
const Name = "ferry.service"

// Hint is what the owner runs after Install.
const Hint = "systemctl --user daemon-reload && systemctl --user enable --now ferry"

// Unit returns the text of a user unit running `binary run --config
// configPath`.
func Unit(binary, configPath string) string {
	return `[Unit]
Description=ferry continuous folder sync
# Reload re-reads the jobs file without stopping transfers in flight.

[Service]
Type=simple
ExecStart=` + arg(binary) + ` run --config ` + arg(configPath) + `
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=5s
KillSignal=SIGTERM
TimeoutStopSec=30s

[Install]
WantedBy=default.target
`
}

// arg writes one ExecStart argument: "%" and "$" are doubled so systemd
// takes them literally, and a word with spaces, quotes or backslashes is
// double-quoted with those escaped.
func arg(s string) string {
	s = strings.NewReplacer("%", "%%", "$", "$$").Replace(s)
	if !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// DefaultDir is where systemd looks for the owner's units:
// $XDG_CONFIG_HOME/systemd/user, or ~/.config/systemd/user.
func DefaultDir() (string, error) {
	if x := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "systemd", "user"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("unable to find the systemd user unit directory: %w", err)
	}
	return filepath.Join(home, ".config", "systemd", "user"), nil
}

// Install writes dir/ferry.service (dir from DefaultDir in normal use),
// replacing any earlier one atomically, and returns its path. binary and
// configPath must be absolute; then run Hint.
func Install(dir, binary, configPath string) (string, error) {
	for _, p := range []struct{ what, path string }{{"ferry binary", binary}, {"config file", configPath}} {
		if !filepath.IsAbs(p.path) {
			return "", fmt.Errorf("unable to write the systemd unit: the %s path %q is not absolute", p.what, p.path)
		}
		if strings.ContainsFunc(p.path, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return "", fmt.Errorf("unable to write the systemd unit: the %s path %q contains a control character", p.what, p.path)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("unable to create %s: %w", dir, err)
	}
	path := filepath.Join(dir, Name)
	tmp, err := os.CreateTemp(dir, ".ferry.service-")
	if err != nil {
		return "", fmt.Errorf("unable to write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this finds nothing
	if _, err := tmp.WriteString(Unit(binary, configPath)); err != nil {
		tmp.Close()
		return "", fmt.Errorf("unable to write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return "", fmt.Errorf("unable to write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("unable to write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("unable to write %s: %w", path, err)
	}
	return path, nil
}
