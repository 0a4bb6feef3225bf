package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/service/api"
	"github.com/ferry-sync/ferry/service/logging"
	"github.com/ferry-sync/ferry/service/metrics"
	"github.com/ferry-sync/ferry/service/web"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/transport/remote"
	"golang.org/x/sync/errgroup"
)

func newRunCommand() *command {
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	cfgPath := fs.String("config", "", "jobs file (default $FERRY_CONFIG or ~/.config/ferry/jobs.yaml)")
	httpAddr := fs.String("http", "", "also serve the control API, activity page and /metrics on this address (e.g. 127.0.0.1:8480)")
	token := fs.String("token", "", "bearer token for --http; required for a non-loopback address (or FERRY_TOKEN)")
	level := fs.String("log-level", "info", "debug | info | warn | error")
	acceptNew := fs.Bool("accept-new-host-key", false, "trust and record unknown server host keys")
	return &command{
		name:    "run",
		summary: "run every job as a service until SIGINT or SIGTERM; SIGHUP reloads the config",
		usage:   "--config FILE [--http ADDR [--token T]] [--log-level LEVEL]",
		flags:   fs,
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usageError{"run takes no arguments"}
			}
			cfg, _, err := loadJob(*cfgPath, "")
			if err != nil {
				return err
			}
			lvl, err := logging.ParseLevel(*level)
			if err != nil {
				return usageError{err.Error()}
			}
			if *token == "" {
				*token = os.Getenv("FERRY_TOKEN")
			}
			log, tlog, closer, err := logging.Setup(cfg.StateDir, lvl)
			if err != nil {
				return err
			}
			defer closer.Close()
			return runAgent(ctx, e, cfg, runOptions{
				cfgPath: *cfgPath, httpAddr: *httpAddr, token: *token, log: log, tlog: tlog,
				remote: remoteOptions{acceptNewHostKey: *acceptNew, log: log, lazy: true},
			})
		},
	}
}

type runOptions struct {
	cfgPath, httpAddr, token string
	log                      *slog.Logger
	tlog                     *logging.TransferLog
	remote                   remoteOptions
	// ready, if set, is told the HTTP address once everything listens.
	ready func(httpAddr string)
}

// runAgent runs the agent with its control socket, and the HTTP listener
// when asked, until ctx is done. SIGHUP reloads the config file.
func runAgent(ctx context.Context, e *env, cfg *config.Config, ro runOptions) error {
	v, commit, goVersion := buildVersion(debug.ReadBuildInfo())
	m := metrics.New(time.Now, metrics.Build{Version: v, Commit: commit, GoVersion: goVersion})
	ro.remote.onRemote = func(job string, ep *remote.Endpoint) { m.Track(job, linkOf(ep)) }
	open := func(ctx context.Context, req agent.OpenRequest) (endpoint.Endpoint, endpoint.Endpoint, error) {
		if req.Remote != nil {
			// The job keeps its remote between passes: only the local
			// folder is opened per pass.
			local, err := openLocalFolder(req.Job.Local, &req.Job, req.DB, syncer.SideLocal, ro.remote.log)
			return local, req.Remote, err
		}
		rem := ro.remote
		rem.limits = req.Limits.Load
		o, err := openJob(ctx, cfg, &req.Job, req.DB, rem)
		if err != nil {
			return nil, nil, err
		}
		return o.local, o.remote, nil
	}
	keep := func(req agent.OpenRequest) (agent.Remote, error) {
		rem := ro.remote
		rem.limits = req.Limits.Load
		return keepRemote(cfg, &req.Job, req.DB, rem)
	}
	a, err := agent.New(cfg, agent.Options{
		OpenWith:   open,
		KeepRemote: keep,
		// As `ferry sync` runs a pass (openJob).
		HashWhileCopying: hashesWhileCopying,
		Log:              ro.log,
		Observer: func(job string, ev syncer.Event) {
			m.Observe(job, ev)
			if ro.tlog != nil {
				ro.tlog.Observe(job, ev)
			}
		},
	})
	if err != nil {
		return err
	}
	// The versions endpoints read the jobs file the agent runs now.
	current := &atomic.Pointer[config.Config]{}
	current.Store(cfg)
	// Every job's series exist from start-up, before any scrape.
	m.Update(a.Jobs())
	h := api.NewHandler(a, api.Options{Token: ro.token, Page: web.Handler(), Metrics: m.HandlerWith(a.Jobs), Log: ro.log,
		Versions: &versionsService{cfg: current, ro: remoteOptions{acceptNewHostKey: ro.remote.acceptNewHostKey, log: ro.remote.log}}})
	unixLn, err := api.ListenUnix(cfg.SocketPath(), ro.log)
	if err != nil {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return api.Serve(ctx, unixLn, h) })
	httpAddr := ""
	if ro.httpAddr != "" {
		ln, err := api.ListenTCP(ro.httpAddr, ro.token)
		if err != nil {
			unixLn.Close()
			return err
		}
		httpAddr = ln.Addr().String()
		g.Go(func() error { return api.Serve(ctx, ln, h) })
	}
	fmt.Fprintf(e.stderr, "ferry: running %d job(s); control socket %s", len(cfg.Jobs), cfg.SocketPath())
	if httpAddr != "" {
		fmt.Fprintf(e.stderr, "; activity page http://%s/", httpAddr)
	}
	fmt.Fprintf(e.stderr, "; logs in %s\n", cfg.LogDir())
	if ro.ready != nil {
		ro.ready(httpAddr)
	}
	g.Go(func() error { return a.Run(ctx) })
	g.Go(func() error {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-hup:
				next, err := config.Load(ro.cfgPath)
				if err != nil {
					ro.log.Error("config reload refused; the running jobs keep their settings", "file", ro.cfgPath, "err", err)
					fmt.Fprintf(e.stderr, "ferry: reload of %s refused:\n%v\n", ro.cfgPath, err)
					continue
				}
				if err := a.Reload(next); err != nil {
					ro.log.Error("config reload failed", "err", err)
					continue
				}
				current.Store(next)
				ro.log.Info("config reloaded", "file", ro.cfgPath, "jobs", len(next.Jobs))
			}
		}
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// linkOf reads a remote's traffic for the metrics.
func linkOf(ep *remote.Endpoint) func() metrics.Link {
	return func() metrics.Link {
		l := ep.Traffic()
		out := metrics.Link{Sent: l.Sent, Received: l.Received, Retransmitted: l.Retransmitted, Lost: l.Lost}
		for _, s := range l.Sessions {
			out.Sessions = append(out.Sessions, metrics.Session{RTT: s.RTT, Target: s.Target})
		}
		return out
	}
}
