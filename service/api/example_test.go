package api_test

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/ferry-sync/ferry/service/api"
	"github.com/ferry-sync/ferry/service/metrics"
	"github.com/ferry-sync/ferry/service/web"
)

// How `ferry run` serves the control API: always on the owner-only socket,
// and on TCP when --http is given.
func Example() {
	var (
		ctx      = context.Background()
		agent    api.Controller // the *agent.Agent
		stateDir = "/home/ann/.local/state/ferry"
		httpAddr = "127.0.0.1:8384" // --http; empty to serve only the socket
		token    = ""               // --token; required beyond loopback
		log      = slog.Default()
	)
	m := metrics.New(nil, metrics.Build{Version: "v1.0.0"}) // also pass m.Observe to the agent's Observer, and m.Track each remote
	h := api.NewHandler(agent, api.Options{Token: token, Page: web.Handler(), Metrics: m.HandlerWith(agent.Jobs), Log: log})

	sock, err := api.ListenUnix(filepath.Join(stateDir, "ferry.sock"), log)
	if err != nil {
		log.Error("control socket", "err", err)
		return
	}
	go api.Serve(ctx, sock, h)
	if httpAddr != "" {
		l, err := api.ListenTCP(httpAddr, token)
		if err != nil {
			log.Error("control API", "err", err)
			return
		}
		go api.Serve(ctx, l, h)
	}

	// The CLI side.
	c := api.NewClient(filepath.Join(stateDir, "ferry.sock"), "")
	_, _ = c.Jobs(ctx)
}
