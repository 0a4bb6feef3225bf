package remote_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/remote"
	"github.com/ferry-sync/ferry/transport/server"
)

// The server's cap holds whatever the client asks for: 4 MiB at 16 Mbit/s
// (2 MB/s) cannot take much less than 2 s. Only a lower bound is checked,
// which a slow machine cannot break.
func TestServerRateCapHoldsOnTheSSHStream(t *testing.T) {
	r := rng(t)
	e := newEnv(t, func(c *server.Config) { c.TotalRate = 16_000_000 })
	ep := e.mustDial(func(o *remote.Options) { o.Transport = config.TCP; o.Bandwidth.Upload = 0 })
	src := t.TempDir()
	content := randomBytes(r, 4<<20)
	item := endpoint.Transfer{Source: fileEntry(t, src, "f.bin", content)}
	start := time.Now()
	noErrors(t, ep.Upload(context.Background(), []endpoint.Transfer{item}, local(t, src), nil))
	up := time.Since(start)
	mustEqualFile(t, filepath.Join(e.root, "f.bin"), content, item.Source.Mtime)

	dst := t.TempDir()
	start = time.Now()
	noErrors(t, ep.Download(context.Background(), []endpoint.Transfer{item}, local(t, dst), nil))
	down := time.Since(start)
	t.Logf("4 MiB at a 16 Mbit/s cap: upload %v, download %v", up, down)
	if up < 1200*time.Millisecond || down < 1200*time.Millisecond {
		t.Fatalf("the server's 16 Mbit/s cap did not hold: upload %v, download %v for 4 MiB", up, down)
	}
}

func TestClientBandwidthCapAppliesLive(t *testing.T) {
	r := rng(t)
	e := newEnv(t, nil)
	ep := e.mustDial(func(o *remote.Options) { o.Transport = config.TCP; o.Bandwidth.Upload = 16_000_000 })
	src := t.TempDir()
	content := randomBytes(r, 4<<20)
	item := endpoint.Transfer{Source: fileEntry(t, src, "f.bin", content)}
	start := time.Now()
	noErrors(t, ep.Upload(context.Background(), []endpoint.Transfer{item}, local(t, src), nil))
	capped := time.Since(start)
	if capped < 1200*time.Millisecond {
		t.Fatalf("16 Mbit/s client cap: 4 MiB took only %v", capped)
	}
	// A new cap takes effect without reconnecting. It is lowered, not
	// lifted, so that only a lower bound is checked: a loaded machine can
	// make an uncapped upload as slow as the capped one, never a capped
	// upload faster than its cap. 1 MiB at 4 Mbit/s, less the limiter's
	// 256 KiB burst, takes 1.6 s; at the old 16 Mbit/s it would take 0.4 s.
	ep.SetBandwidth(config.Bandwidth{Upload: 4_000_000})
	item2 := endpoint.Transfer{Source: fileEntry(t, src, "g.bin", content[:1<<20])}
	start = time.Now()
	noErrors(t, ep.Upload(context.Background(), []endpoint.Transfer{item2}, local(t, src), nil))
	lowered := time.Since(start)
	t.Logf("4 MiB at 16 Mbit/s %v, 1 MiB at 4 Mbit/s %v", capped, lowered)
	if lowered < 1200*time.Millisecond {
		t.Fatalf("the cap lowered to 4 Mbit/s did not apply: 1 MiB took only %v", lowered)
	}
}

// limitSource is a job's caps as they change at run time, in the shape of
// agent.Limits.Load.
type limitSource struct {
	mu      sync.Mutex
	bw      config.Bandwidth
	changed chan struct{}
}

func (l *limitSource) load() (config.Bandwidth, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bw, l.changed
}

func (l *limitSource) set(bw config.Bandwidth) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bw = bw
	close(l.changed)
	l.changed = make(chan struct{})
}

// TestTwoWayCapFoldsLiveChanges: a cap that changes while the endpoint is
// open (Options.Limits, as the agent hands them over) reaches the
// endpoint, and a two-way job runs at the lowest non-zero of its caps:
// a download cap alone caps uploads too. 4 MiB at 8 Mbit/s (1 MB/s)
// cannot take much less than 4 s; only that lower bound is checked.
func TestTwoWayCapFoldsLiveChanges(t *testing.T) {
	r := rng(t)
	e := newEnv(t, nil)
	src := &limitSource{changed: make(chan struct{})}
	ep := e.mustDial(func(o *remote.Options) {
		o.Transport = config.TCP
		o.Direction = config.TwoWay
		o.Bandwidth = config.Bandwidth{Upload: 1} // replaced by Limits
		o.Limits = src.load
	})
	if got := ep.Bandwidth(); got.Upload != 0 || got.Download != 0 {
		t.Fatalf("caps at open: %+v, want the Limits' (uncapped)", got)
	}
	src.set(config.Bandwidth{Download: 8_000_000})
	deadline := time.Now().Add(10 * time.Second)
	for ep.Bandwidth().Upload != 8_000_000 {
		if time.Now().After(deadline) {
			t.Fatalf("caps 10 s after the change: %+v, want 8Mbps both ways", ep.Bandwidth())
		}
		time.Sleep(10 * time.Millisecond)
	}
	src0 := t.TempDir()
	content := randomBytes(r, 4<<20)
	item := endpoint.Transfer{Source: fileEntry(t, src0, "f.bin", content)}
	start := time.Now()
	noErrors(t, ep.Upload(context.Background(), []endpoint.Transfer{item}, local(t, src0), nil))
	took := time.Since(start)
	t.Logf("4 MiB uploaded in %v under an 8Mbps download cap", took)
	if took < 3*time.Second {
		t.Fatalf("4 MiB uploaded in %v: a two-way job's download cap did not hold for its uploads", took)
	}
}
