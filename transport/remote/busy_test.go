package remote_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ferry-sync/ferry/transport/remote"
	"github.com/ferry-sync/ferry/transport/server"
)

// TestBurstBeyondServerRequestLimitWaits: a server that runs fewer
// requests per connection than the client sends at once refuses the
// excess; the client waits and asks again, so every request succeeds.
func TestBurstBeyondServerRequestLimitWaits(t *testing.T) {
	e := newEnv(t, func(c *server.Config) { c.MaxRequests = 2 })
	ep := e.mustDial(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 40
	g, gctx := errgroup.WithContext(ctx)
	for i := range n {
		g.Go(func() error { return ep.Mkdir(gctx, fmt.Sprintf("d%02d", i), 0o755) })
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("burst of %d mkdirs against a limit of 2: %v", n, err)
	}
	for i := range n {
		if fi, err := os.Stat(filepath.Join(e.root, fmt.Sprintf("d%02d", i))); err != nil || !fi.IsDir() {
			t.Fatalf("d%02d: %v", i, err)
		}
	}
	if !strings.Contains(e.log.String(), "request limit") {
		t.Fatalf("the server never refused anything, so the test proved nothing:\n%s", e.log.String())
	}
}

// TestNewConnectsOnFirstUseOnce: New touches no network; concurrent first
// calls share one connection.
func TestNewConnectsOnFirstUseOnce(t *testing.T) {
	e := newEnv(t, nil)
	ep, err := remote.New(e.options())
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	if n := strings.Count(e.log.String(), "client connected"); n != 0 {
		t.Fatalf("New connected %d times", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	for range 8 {
		g.Go(func() error {
			_, err := ep.FreeSpace(gctx)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(e.log.String(), "client connected"); n != 1 {
		t.Fatalf("8 concurrent first calls made %d connections, want 1", n)
	}
}
