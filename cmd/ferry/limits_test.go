package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/config"
)

// TestMaxDeleteZeroAllowsNoDeletion: `max_delete: 0` is a count of zero, not
// "not set". It used to fall back to the 50% default, so a user who asked
// for no deletions at all had up to half the files deleted (issue 11.15).
func TestMaxDeleteZeroAllowsNoDeletion(t *testing.T) {
	ctx := context.Background()
	for _, limit := range []string{"0", "0%"} {
		t.Run(limit, func(t *testing.T) {
			cfg, local, remote := jobFixture(t, "    max_delete: \""+limit+"\"\n")
			for _, n := range []string{"a", "b", "c", "d"} {
				write(t, filepath.Join(remote, n), n)
			}
			if code, _, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j"); code != exitOK {
				t.Fatalf("first pass: exit %d: %s", code, stderr)
			}
			// One of four (25%, below the default half) goes on the remote.
			if err := os.Remove(filepath.Join(remote, "a")); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := runCLI(t, ctx, "sync", "--config", cfg, "j")
			if code != exitHalted || !strings.Contains(stderr, "--allow-deletes") {
				t.Fatalf("exit %d, stderr %s; want a halt: max_delete %s allows no deletion", code, stderr, limit)
			}
			if _, err := os.Stat(filepath.Join(local, "a")); err != nil {
				t.Fatalf("max_delete %s: the local copy was deleted: %v", limit, err)
			}
		})
	}
}

// TestZeroValuesInTheJobsFileAreKept: every key whose 0 means something is
// read as that 0, not replaced by its default (issue 11.15).
func TestZeroValuesInTheJobsFileAreKept(t *testing.T) {
	cfgPath, _, _ := jobFixture(t, "    max_delete: 0\n    disk_space_warning: 0\n    cooloff: 0s\n"+
		"    retry:\n      interval: 0s\n    bandwidth:\n      upload: 0\n      download: 0\n")
	c, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	j := c.Jobs[0]
	if j.MaxDelete.IsZero() || j.MaxDelete.IsPercent || j.MaxDelete.Count != 0 {
		t.Errorf("max_delete: 0 read as %+v", j.MaxDelete)
	}
	if j.DiskSpaceWarning != 0 {
		t.Errorf("disk_space_warning: 0 read as %v", j.DiskSpaceWarning)
	}
	if j.Cooloff != 0 || j.Retry.Interval != 0 {
		t.Errorf("cooloff %v, retry.interval %v; want 0", j.Cooloff, j.Retry.Interval)
	}
	if j.Bandwidth.Upload != 0 || j.Bandwidth.Download != 0 {
		t.Errorf("bandwidth %+v; want uncapped", j.Bandwidth)
	}
}
