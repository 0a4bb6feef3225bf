package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/ferry-sync/ferry/config"
)

// DefaultListen is `ferry serve`'s default --listen address.
const DefaultListen = ":33001"

// UDPSameAsListen, as Flags.UDPPort, serves data sessions on the port
// number of the SSH listener (the default); 0 turns UDP off.
const UDPSameAsListen = -1

// Flags are `ferry serve`'s command-line values. With ConfigFile, users,
// rates and defaults come from that file (config.LoadServer) and Root and
// AuthorizedKeys must be empty; the other flags override it only when
// given: a zero value (and UDPSameAsListen) means "not given", so that the
// caller must leave out the flags the user did not type, never pass their
// defaults.
type Flags struct {
	Listen         string // "": the file's, or :33001
	UDPPort        int    // UDPSameAsListen (not given), 0 (off) or a port
	Root           string
	AuthorizedKeys string
	// HostKey defaults to STATE_DIR/host_key.
	HostKey string
	// StateDir holds scan caches and the default host key (default
	// ~/.local/state/ferry).
	StateDir       string
	ConfigFile     string
	MaxConnections int
	Log            *slog.Logger
	// Getenv reads the environment (AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY for s3:// roots without a credentials
	// file); nil is os.Getenv.
	Getenv func(string) string
}

// Config turns flags (and the server config file they name) into a
// server Config and the address to listen on.
func (f Flags) Config() (Config, string, error) {
	if f.ConfigFile != "" {
		if f.Root != "" || f.AuthorizedKeys != "" {
			return Config{}, "", errors.New("--root and --authorized-keys cannot be combined with --config: list the folder as a user in the server config")
		}
		sc, err := config.LoadServer(f.ConfigFile)
		if err != nil {
			return Config{}, "", err
		}
		cfg, listen := FromServerConfig(sc, f.Log)
		getenv := f.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		for i := range cfg.Users {
			if cfg.Users[i].S3 == nil {
				continue
			}
			c, err := sc.S3Credentials(i, getenv)
			if err != nil {
				return Config{}, "", err
			}
			cfg.Users[i].S3.AccessKey, cfg.Users[i].S3.SecretKey = c.AccessKey, c.SecretKey
		}
		if f.Listen != "" {
			listen = f.Listen
		}
		if f.StateDir != "" {
			cfg.StateDir = f.StateDir
		}
		switch {
		case f.UDPPort != UDPSameAsListen:
			cfg.UDPPort = f.UDPPort
		case sc.UDPPortFromListen && f.Listen != "":
			port, err := listenPort(listen)
			if err != nil {
				return Config{}, "", err
			}
			cfg.UDPPort = port
		}
		switch {
		case f.HostKey != "":
			cfg.HostKeyPath = f.HostKey
		case sc.HostKeyFromStateDir && f.StateDir != "":
			cfg.HostKeyPath = filepath.Join(f.StateDir, "host_key")
		}
		if f.MaxConnections != 0 {
			cfg.MaxConnections = f.MaxConnections
		}
		return cfg, listen, cfg.EnsureValid()
	}
	listen := f.Listen
	if listen == "" {
		listen = DefaultListen
	}
	state := f.StateDir
	if state == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return Config{}, "", fmt.Errorf("unable to find a state directory (pass --state-dir): %w", err)
		}
		state = filepath.Join(home, ".local", "state", "ferry")
	}
	hk := f.HostKey
	if hk == "" {
		hk = filepath.Join(state, "host_key")
	}
	udp := f.UDPPort
	if udp == UDPSameAsListen {
		port, err := listenPort(listen)
		if err != nil {
			return Config{}, "", err
		}
		udp = port
	}
	cfg := Config{
		Root: f.Root, AuthorizedKeys: f.AuthorizedKeys, HostKeyPath: hk,
		UDPPort: udp, StateDir: state, MaxConnections: f.MaxConnections, Log: f.Log,
	}
	return cfg, listen, cfg.EnsureValid()
}

func listenPort(listen string) (int, error) {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return 0, fmt.Errorf("unable to read the port of --listen %q: %w", listen, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return 0, fmt.Errorf("--listen %q does not end in a port between 0 and 65535", listen)
	}
	return n, nil
}

// FromServerConfig turns a loaded server.yaml into a Config and the
// address to listen on.
func FromServerConfig(sc *config.ServerConfig, log *slog.Logger) (Config, string) {
	cfg := Config{
		HostKeyPath: sc.HostKey, UDPPort: sc.UDPPort, StateDir: sc.StateDir,
		MaxConnections: sc.MaxConnections, TotalRate: sc.TotalRate, Log: log, Versions: sc.Versions,
	}
	for _, u := range sc.Users {
		su := User{Name: u.Name, Root: u.Root, AuthorizedKeys: u.AuthorizedKeys, Rate: u.Rate, Versions: u.Versions}
		if c := u.S3; c != nil {
			// The credentials are read by Flags.Config, where the
			// environment is known.
			su.S3 = &S3Root{Endpoint: c.Endpoint, Secure: c.Secure, Region: c.Region, PathStyle: c.PathStyle, Bucket: c.Bucket, Prefix: c.Prefix}
		}
		cfg.Users = append(cfg.Users, su)
	}
	return cfg, sc.Listen
}

// ListenAndServe listens on addr (default :33001) and serves cfg until ctx
// is done.
func ListenAndServe(ctx context.Context, addr string, cfg Config) error {
	if addr == "" {
		addr = DefaultListen
	}
	s, err := New(cfg)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("unable to listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}
