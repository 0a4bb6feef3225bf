package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/ferry-sync/ferry/service/logging"
	"github.com/ferry-sync/ferry/transport/server"
)

func newServeCommand() *command {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	listen := fs.String("listen", "", "TCP address of the SSH control channel (default "+server.DefaultListen+", or with --config the file's listen:)")
	udpPort := fs.Int("udp-port", -1, "UDP port for data sessions (default: the --listen port; 0 turns UDP off)")
	root := fs.String("root", "", "folder every authorized key maps to; the user name in ferry://USER@host is NOT checked in this mode (use --config with users for accounts)")
	authKeys := fs.String("authorized-keys", "", "OpenSSH authorized_keys file (a dedicated one is best; from= and expiry-time= are honoured, keys with command= and the like are refused)")
	hostKey := fs.String("host-key", "", "ed25519 host key, created 0600 if missing (default STATE_DIR/host_key)")
	stateDir := fs.String("state-dir", "", "scan caches and the default host key (default ~/.local/state/ferry)")
	cfgPath := fs.String("config", "", "server.yaml with users (name, root, authorized_keys, rate), instead of --root/--authorized-keys; the SSH user names the account; flags given as well override the file")
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
			// A flag overrides the config file only when it was given: its
			// default must never hide the file's value. cobra parses into
			// its own FlagSet holding these flags, so fs.Visit would see
			// none: each flag's Changed says whether it was given.
			given := map[string]bool{}
			fs.VisitAll(func(f *pflag.Flag) { given[f.Name] = f.Changed })
			flags := server.Flags{
				UDPPort: server.UDPSameAsListen, Root: *root, AuthorizedKeys: *authKeys,
				HostKey: *hostKey, StateDir: *stateDir, ConfigFile: *cfgPath, Log: log,
			}
			if given["listen"] {
				if *listen == "" {
					return usageError{"--listen needs an address such as :33001 or 127.0.0.1:33001"}
				}
				flags.Listen = *listen
			}
			if given["udp-port"] {
				if *udpPort < 0 || *udpPort > 65535 {
					return usageError{"--udp-port must be between 0 (UDP off) and 65535"}
				}
				flags.UDPPort = *udpPort
			}
			cfg, addr, err := flags.Config()
			if err != nil {
				return err
			}
			err = server.ListenAndServe(ctx, addr, cfg)
			if re := (*server.RootError)(nil); errors.As(err, &re) {
				return usageError{err.Error()}
			}
			return err
		},
	}
}
