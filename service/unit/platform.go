package unit

import (
	"errors"
	"fmt"
)

// Supported says whether goos has systemd user units to install; the
// error, for any other, names the platform and what to use instead.
func Supported(goos string) error {
	if goos == "linux" {
		return nil
	}
	return fmt.Errorf("unable to install a service on %s: ferry install-service writes a systemd user unit, which only Linux has; start `ferry run --config FILE` with %s's own service manager instead: %w",
		goos, serviceManager(goos), errors.ErrUnsupported)
}

func serviceManager(goos string) string {
	switch goos {
	case "darwin":
		return "launchd (a LaunchAgent)"
	case "windows":
		return "Task Scheduler (a task run at log-on)"
	}
	return "the system"
}
