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
` + noRestartOnConfigError + `KillSignal=SIGTERM
TimeoutStopSec=30s

[Install]
WantedBy=default.target
`
}

// ExitConfig is the code ferry exits with on a configuration error.
const ExitConfig = 2

// noRestartOnConfigError keeps a broken config from restarting the unit
// forever: it would fail the same way every RestartSec.
var noRestartOnConfigError = fmt.Sprintf(`# Exit %d is a configuration error: restarting cannot fix it.
RestartPreventExitStatus=%d
`, ExitConfig, ExitConfig)

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
	if err := CheckAgent(binary, configPath); err != nil {
		return "", err
	}
	return write(dir, Name, Unit(binary, configPath))
}

// CheckAgent says whether Unit can name binary and configPath exactly:
// both absolute, without control characters.
func CheckAgent(binary, configPath string) error {
	for _, p := range []struct{ what, path string }{{"ferry binary", binary}, {"config file", configPath}} {
		if err := checkPath(p.what, p.path); err != nil {
			return err
		}
	}
	return nil
}

// checkPath refuses a path a unit cannot name exactly.
func checkPath(what, path string) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("unable to write the systemd unit: the %s path %q is not absolute", what, path)
	}
	if strings.ContainsFunc(path, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("unable to write the systemd unit: the %s path %q contains a control character", what, path)
	}
	return nil
}

// write puts text in dir/name, replacing any earlier file atomically.
func write(dir, name, text string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("unable to create %s: %w", dir, err)
	}
	path := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, "."+name+"-")
	if err != nil {
		return "", fmt.Errorf("unable to write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this finds nothing
	if _, err := tmp.WriteString(text); err != nil {
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
