package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestSyncUploadFillsTheMTU: an upload through a real `ferry serve` over
// UDP sends datagrams as big as a 1,500-byte MTU takes over IPv4 (1,472
// bytes), where it sent 1,400 before; `ferry sync` says so in its
// transport line.
func TestSyncUploadFillsTheMTU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("datagram sizes follow the path only on Linux")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	writeBig(t, filepath.Join(s.local, "up.bin"), 4<<20)
	cfgPath := s.jobs(t, "    direction: local-to-remote\n")
	code, out, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfgPath, "j")
	if code != exitOK {
		t.Fatalf("sync: exit %d: %s %s", code, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(s.served, "up.bin")); err != nil {
		t.Fatalf("the upload did not arrive: %v\n%s", err, out)
	}
	if !strings.Contains(out, "transport: udp") || !strings.Contains(out, "datagrams of 1472 bytes") {
		t.Fatalf("want a UDP session sending 1472-byte datagrams; sync said:\n%s", out)
	}
}
