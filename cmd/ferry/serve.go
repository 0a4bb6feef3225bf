package main

import (
	"context"
	"flag"
	"log/slog"

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
			if *cfgPath == "" && (*root == "" || *authKeys == "") {
				return usageError{"give --root and --authorized-keys, or --config server.yaml"}
			}
			port := *udpPort
			if port < 0 {
				port = server.UDPSameAsListen
			}
			cfg, addr, err := server.Flags{
				Listen: *listen, UDPPort: port, Root: *root, AuthorizedKeys: *authKeys,
				HostKey: *hostKey, StateDir: *stateDir, ConfigFile: *cfgPath, Log: log,
			}.Config()
			if err != nil {
				return err
			}
			return server.ListenAndServe(ctx, addr, cfg)
		},
	}
}
