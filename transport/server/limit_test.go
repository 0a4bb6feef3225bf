package server

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/control"

	"github.com/ferry-sync/ferry/versions"
)

// gatedMkdir holds every Mkdir until release is closed, counting how many
// are held at once.
type gatedMkdir struct {
	endpoint.Endpoint
	entered chan struct{}
	release chan struct{}

	mu             sync.Mutex
	inFlight, peak int
}

func (g *gatedMkdir) Mkdir(ctx context.Context, p string, mode fs.FileMode) error {
	g.mu.Lock()
	g.inFlight++
	g.peak = max(g.peak, g.inFlight)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inFlight--
		g.mu.Unlock()
	}()
	g.entered <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Endpoint.Mkdir(ctx, p, mode)
}

// TestRequestsPerConnectionAreBounded: a client that opens more requests
// at once than MaxRequests has the excess refused with ResourceShortage
// and a message naming the limit; the requests within the limit finish,
// and their slots are free again afterwards.
func TestRequestsPerConnectionAreBounded(t *testing.T) {
	const limit = 4
	g := &gatedMkdir{entered: make(chan struct{}, 64), release: make(chan struct{})}
	ts := startServer(t, func(c *Config) {
		c.MaxRequests = limit
		c.Open = func(dir, suffix string, cache Cache, store *versions.Store, log *slog.Logger) (endpoint.Endpoint, error) {
			ep, err := openLocal(dir, suffix, cache, store, log)
			g.Endpoint = ep
			return g, err
		}
	})
	c := ts.hello(t, "")

	var held []ssh.Channel
	for i := range limit {
		ch, reqs, err := c.OpenChannel(control.ChannelType, control.Append(nil, control.Mkdir{Path: "d" + string(rune('a'+i)), Mode: 0o755}))
		if err != nil {
			t.Fatalf("request %d within the limit refused: %v", i, err)
		}
		go ssh.DiscardRequests(reqs)
		held = append(held, ch)
	}
	for range limit {
		select {
		case <-g.entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the requests within the limit did not all reach the endpoint")
		}
	}

	// Many more at once: every one is refused, none reaches the endpoint.
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch, reqs, err := c.OpenChannel(control.ChannelType, control.Append(nil, control.Mkdir{Path: "over", Mode: 0o755}))
			if err == nil {
				go ssh.DiscardRequests(reqs)
				ch.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		var oce *ssh.OpenChannelError
		if !errors.As(err, &oce) || oce.Reason != ssh.ResourceShortage {
			t.Fatalf("request %d over the limit: %v, want a ResourceShortage refusal", i, err)
		}
		if !strings.Contains(oce.Message, "allows 4") {
			t.Fatalf("refusal does not name the limit: %q", oce.Message)
		}
	}
	if n := strings.Count(ts.log.String(), "request limit"); n != 1 {
		t.Errorf("refusals logged %d times, want once:\n%s", n, ts.log.String())
	}

	close(g.release)
	for i, ch := range held {
		m, _, err := control.ReadFrame(ch, nil)
		if err != nil {
			t.Fatalf("held request %d: %v", i, err)
		}
		if _, ok := m.(control.OK); !ok {
			t.Fatalf("held request %d answered %T", i, m)
		}
		ch.Close()
	}
	g.mu.Lock()
	peak := g.peak
	g.mu.Unlock()
	if peak != limit {
		t.Fatalf("peak concurrent requests %d, want %d", peak, limit)
	}

	// The slots come back: a full set of requests runs again. A slot is
	// given back just after its answer is sent, so allow for that race.
	for i := range limit {
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; {
			_, err = rawCall(t, c, control.Mkdir{Path: "again" + string(rune('a'+i)), Mode: 0o755})
			var oce *ssh.OpenChannelError
			if !errors.As(err, &oce) || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("request after the held ones finished: %v", err)
		}
	}
}
