package remote_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint/endpointtest"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/transport/remote"
)

// A two-way pass of the real engine between a local folder and a remote
// one, over each data path: files from both sides end up on both.
func TestTwoWayPassOverEachTransport(t *testing.T) {
	for _, mode := range []config.TransportMode{config.TCP, config.UDP} {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnvUDP(t, mode == config.UDP, nil)
			if err := os.Mkdir(filepath.Join(e.root, "docs"), 0o755); err != nil {
				t.Fatal(err)
			}
			ep := e.mustDial(func(o *remote.Options) { o.Transport = mode; o.Path = "/docs" })
			localDir := t.TempDir()
			endpointtest.Build(t, localDir, endpointtest.Dir{"mine/a.txt": "from local", "big": string(randomBytes(rng(t), 3<<20))})
			endpointtest.Build(t, filepath.Join(e.root, "docs"), endpointtest.Dir{"theirs/b.txt": "from remote"})
			db, err := snapshot.Open(filepath.Join(t.TempDir(), "job.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			job := config.Job{Name: "docs", Local: localDir, Remote: "ferry://tester@host/docs", Direction: config.TwoWay,
				MaxDelete: config.Limit{IsPercent: true, Percent: 50}}
			rec, err := syncer.Pass(context.Background(), syncer.Options{Job: job, Local: local(t, localDir), Remote: ep, DB: db})
			if err != nil || rec.Halted != "" {
				t.Fatalf("pass: %+v %v", rec, err)
			}
			for _, c := range []struct{ path, want string }{
				{filepath.Join(e.root, "docs", "mine", "a.txt"), "from local"},
				{filepath.Join(localDir, "theirs", "b.txt"), "from remote"},
			} {
				got, err := os.ReadFile(c.path)
				if err != nil || string(got) != c.want {
					t.Fatalf("%s: %q %v", c.path, got, err)
				}
			}
			a, _ := os.ReadFile(filepath.Join(localDir, "big"))
			b, _ := os.ReadFile(filepath.Join(e.root, "docs", "big"))
			if len(a) != 3<<20 || string(a) != string(b) {
				t.Fatal("big file differs after the pass")
			}
			if st, ok := ep.DataStats(); (mode == config.UDP) != (ok && st.PayloadBytes > 0) {
				t.Fatalf("transport %s: data session stats %+v %v", mode, st, ok)
			}
		})
	}
}
