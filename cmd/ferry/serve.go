package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/service/logging"
	"github.com/ferry-sync/ferry/transport/server"
)

func newServeCommand() *command {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	listen := fs.String("listen", server.DefaultListen, "TCP address of the SSH control channel")
	udpPort := fs.Int("udp-port", -1, "UDP port for data sessions (default: the --listen port; 0 turns UDP off)")
	root := fs.String("root", "", "folder every authorized key maps to")
	authKeys := fs.String("authorized-keys", "", "OpenSSH authorized_keys file")
	hostKey := fs.String("host-key", "", "ed25519 host key, created 0600 if missing (default STATE_DIR/ssh_host_ed25519_key)")
	stateDir := fs.String("state-dir", "", "scan caches and the default host key (default ~/.local/state/ferry/serve)")
	cfgPath := fs.String("config", "", "server.yaml with users (name, root, authorized_keys, rate), instead of --root/--authorized-keys")
	level := fs.String("log-level", "info", "debug | info | warn | error")
	return &command{
		name:    "serve",
		summary: "serve folders to ferry agents: SSH control on TCP, encrypted data on UDP (both port 33001 by default)",
		usage:   "--root DIR --authorized-keys FILE [--listen ADDR] [--udp-port N] [--host-key FILE] | --config server.yaml",
		flags:   fs,
		run: func(ctx context.Context, e *env, args []string) error {
			if len(args) != 0 {
				return usageError{"serve takes no arguments"}
			}
			lvl, err := logging.ParseLevel(*level)
			if err != nil {
				return usageError{err.Error()}
			}
			log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: lvl}))
			var cfg server.Config
			addr := *listen
			if *cfgPath != "" {
				sc, err := config.LoadServer(*cfgPath)
				if err != nil {
					return err
				}
				addr = sc.Listen
				cfg = server.Config{
					HostKeyPath: sc.HostKey, MaxConnections: sc.MaxConnections, TotalRate: sc.TotalRate,
					UDPPort: sc.UDPPort, StateDir: sc.StateDir, Log: log,
				}
				for _, u := range sc.Users {
					cfg.Users = append(cfg.Users, server.User{Name: u.Name, Root: u.Root, AuthorizedKeys: u.AuthorizedKeys, Rate: u.Rate})
				}
			} else {
				if *root == "" || *authKeys == "" {
					return usageError{"give --root and --authorized-keys, or --config server.yaml"}
				}
				port := *udpPort
				if port < 0 {
					_, p, err := net.SplitHostPort(addr)
					if err != nil {
						return usageError{fmt.Sprintf("--listen %q: %v", addr, err)}
					}
					if port, err = strconv.Atoi(p); err != nil {
						return usageError{fmt.Sprintf("--listen %q: the port must be a number", addr)}
					}
				}
				cfg, err = server.Flags{
					Listen: addr, UDPPort: port, Root: *root, AuthorizedKeys: *authKeys,
					HostKey: *hostKey, StateDir: *stateDir, Log: log,
				}.Config()
				if err != nil {
					return err
				}
			}
			return server.ListenAndServe(ctx, addr, cfg)
		},
	}
}
