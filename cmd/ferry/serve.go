package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/service/logging"
	"github.com/ferry-sync/ferry/transport/server"
)

func newServeCommand() *command {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	sf := addServeFlags(fs)
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
			flags, err := sf.server(*cfgPath, log)
			if err != nil {
				return err
			}
			cfg, addr, err := flags.Config()
			if err != nil {
				return configError(err)
			}
			err = server.ListenAndServe(ctx, addr, cfg)
			re, ke := (*server.RootError)(nil), (*server.KeysError)(nil)
			if errors.As(err, &re) || errors.As(err, &ke) {
				return usageError{err.Error()}
			}
			return err
		},
	}
}

// configError makes a server configuration that cannot work exit 2 as a
// jobs file with errors does, so a service does not restart it forever;
// a *config.Error already does.
func configError(err error) error {
	if ce := (*config.Error)(nil); errors.As(err, &ce) {
		return err
	}
	return usageError{err.Error()}
}

// serveFlags are `ferry serve`'s flags but --config, which `ferry
// install-service --serve` takes as well.
type serveFlags struct {
	fs                                *pflag.FlagSet
	listen                            *string
	udpPort                           *int
	root, authKeys, hostKey, stateDir *string
}

func addServeFlags(fs *pflag.FlagSet) *serveFlags {
	return &serveFlags{
		fs:       fs,
		listen:   fs.String("listen", "", "TCP address of the SSH control channel (default "+server.DefaultListen+", or with --config the file's listen:)"),
		udpPort:  fs.Int("udp-port", -1, "UDP port for data sessions (default: the --listen port; 0 turns UDP off)"),
		root:     fs.String("root", "", "folder every authorized key maps to; the user name in ferry://USER@host is NOT checked in this mode (use --config with users for accounts)"),
		authKeys: fs.String("authorized-keys", "", "OpenSSH authorized_keys file (a dedicated one is best; from= and expiry-time= are honoured, keys with command= and the like are refused)"),
		hostKey:  fs.String("host-key", "", "ed25519 host key, created 0600 if missing (default STATE_DIR/host_key)"),
		stateDir: fs.String("state-dir", "", "scan caches and the default host key (default ~/.local/state/ferry)"),
	}
}

// given says which of the flags were typed: a flag overrides the config
// file only when it was given, and its default must never hide the
// file's value. cobra parses into its own FlagSet holding these flags, so
// fs.Visit would see none: each flag's Changed says whether it was given.
func (f *serveFlags) given(name string) bool {
	fl := f.fs.Lookup(name)
	return fl != nil && fl.Changed
}

// server turns the flags given, and the server config file cfgPath, into
// server.Flags.
func (f *serveFlags) server(cfgPath string, log *slog.Logger) (server.Flags, error) {
	if cfgPath == "" && (*f.root == "" || *f.authKeys == "") {
		return server.Flags{}, usageError{"give --root and --authorized-keys, or --config server.yaml"}
	}
	flags := server.Flags{
		UDPPort: server.UDPSameAsListen, Root: *f.root, AuthorizedKeys: *f.authKeys,
		HostKey: *f.hostKey, StateDir: *f.stateDir, ConfigFile: cfgPath, Log: log,
	}
	if f.given("listen") {
		if *f.listen == "" {
			return server.Flags{}, usageError{"--listen needs an address such as :33001 or 127.0.0.1:33001"}
		}
		flags.Listen = *f.listen
	}
	if f.given("udp-port") {
		if *f.udpPort < 0 || *f.udpPort > 65535 {
			return server.Flags{}, usageError{"--udp-port must be between 0 (UDP off) and 65535"}
		}
		flags.UDPPort = *f.udpPort
	}
	return flags, nil
}
