package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestDeltaOverTCPThroughServe: with `transport: tcp` (file content on the
// SSH connection, as after UDP is blocked), an append, a 1 KiB insert in
// the middle, a 64 KiB overwrite and a truncation of an 8 MiB file, made
// on either side, land byte-exact, the summary tells the whole file in
// sync and little sent, and a proxy in front of the server counts well
// under the file's size on the link.
func TestDeltaOverTCPThroughServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	proxy := startCountingProxy(t, fmt.Sprintf("127.0.0.1:%d", s.port))
	const size = 8 << 20
	writeBig(t, filepath.Join(s.local, "big.bin"), size)
	cfgPath := filepath.Join(s.dir, "jobs.yaml")
	write(t, cfgPath, fmt.Sprintf("state_dir: %s\njobs:\n  - name: j\n    local: %s\n    remote: ferry://tester@%s/docs\n    identity: %s\n    transport: tcp\n    direction: two-way\n",
		filepath.Join(s.dir, "state"), s.local, proxy.addr, s.identity))
	out := syncOnce(t, ctx, cfgPath)
	if first := proxy.bytes.Load(); first < size {
		t.Fatalf("the first sync moved %d bytes through the proxy, less than the %d-byte file: the proxy does not see the link\n%s", first, size, out)
	}
	local, served := filepath.Join(s.local, "big.bin"), filepath.Join(s.served, "big.bin")
	sameBytes(t, local, served)
	for _, e := range deltaEdits {
		for _, dir := range []struct{ name, from, to string }{{"up", local, served}, {"down", served, local}} {
			t.Run(dir.name+"/"+e.name, func(t *testing.T) {
				proxy.bytes.Store(0)
				out := editAndSync(t, ctx, cfgPath, dir.from, dir.to, e.edit, size/16)
				n := proxy.bytes.Load()
				t.Logf("%d bytes on the link", n)
				if n > size/8 {
					t.Errorf("%s moved %d bytes over the link for an %d-byte file, want under %d:\n%s", e.name, n, size, size/8, out)
				}
			})
		}
	}
}
