package unit

import (
	"errors"
	"strings"
	"testing"
)

// TestSupportedOnlyOnLinux: on macOS and Windows install-service wrote a
// systemd unit nothing would read and told the user to run systemctl.
func TestSupportedOnlyOnLinux(t *testing.T) {
	if err := Supported("linux"); err != nil {
		t.Fatalf("linux: %v", err)
	}
	for goos, want := range map[string]string{"darwin": "launchd", "windows": "Task Scheduler"} {
		err := Supported(goos)
		if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), goos) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want ErrUnsupported naming %s and %s", goos, err, goos, want)
		}
	}
}
