package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLowDiskSpaceShowsInStatus: the low-disk warning of a pass is not only
// in the log: ferry sync prints it, and ferry status shows it, in text and
// in --json (last.disk_space_low). A warning share of 100% makes any pass
// that writes a file warn, whatever the disk.
func TestLowDiskSpaceShowsInStatus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, _, remote := jobFixture(t, "    direction: remote-to-local\n    disk_space_warning: 100%\n")
	write(t, filepath.Join(remote, "a.txt"), "hello")
	code, out, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j")
	if code != exitOK || !strings.Contains(out, "warning: low disk space on the local side: the last pass needed 5 B of the ") ||
		!strings.Contains(out, "under the 100% of disk_space_warning; free some space there") {
		t.Fatalf("sync: exit %d\nout %s\nerr %s", code, out, stderr)
	}

	code, out, stderr = runCLI(t, ctx, "status", "--config", cfg)
	if !strings.Contains(out, "\nj: low disk space on the local side: the last pass needed 5 B") {
		t.Fatalf("status does not show the low disk space: exit %d\nout %s\nerr %s", code, out, stderr)
	}

	code, out, stderr = runCLI(t, ctx, "status", "--json", "--config", cfg)
	var doc struct {
		Jobs []struct {
			Last struct {
				DiskSpaceLow []struct {
					Side         string  `json:"side"`
					FreeBytes    uint64  `json:"free_bytes"`
					NeededBytes  uint64  `json:"needed_bytes"`
					TotalBytes   uint64  `json:"total_bytes"`
					WarningShare float64 `json:"warning_share"`
				} `json:"disk_space_low"`
			} `json:"last"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("status --json: exit %d, %v\n%s\n%s", code, err, out, stderr)
	}
	if len(doc.Jobs) != 1 || len(doc.Jobs[0].Last.DiskSpaceLow) != 1 {
		t.Fatalf("status --json has no disk_space_low:\n%s", out)
	}
	d := doc.Jobs[0].Last.DiskSpaceLow[0]
	if d.Side != "local" || d.NeededBytes != 5 || d.WarningShare != 1 || d.TotalBytes == 0 || d.FreeBytes == 0 {
		t.Fatalf("disk_space_low = %+v", d)
	}
}
