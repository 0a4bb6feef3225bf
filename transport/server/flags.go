package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
)

// DefaultListen is `ferry serve`'s default --listen address.
const DefaultListen = ":33001"

// Flags are `ferry serve`'s command-line values.
type Flags struct {
	Listen         string // default :33001
	UDPPort        int    // 0: no UDP data path
	Root           string
	AuthorizedKeys string
	// HostKey defaults to STATE_DIR/ssh_host_ed25519_key.
	HostKey string
	// StateDir holds scan caches and the default host key (default
	// ~/.local/state/ferry/serve).
	StateDir string
	Log      *slog.Logger
}

// Config turns flags into a server Config (single-root mode). A server
// config file with users is turned into Users by the caller.
func (f Flags) Config() (Config, error) {
	state := f.StateDir
	if state == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return Config{}, fmt.Errorf("unable to find a state directory (pass --state-dir): %w", err)
		}
		state = filepath.Join(home, ".local", "state", "ferry", "serve")
	}
	hk := f.HostKey
	if hk == "" {
		hk = filepath.Join(state, "ssh_host_ed25519_key")
	}
	return Config{
		Root: f.Root, AuthorizedKeys: f.AuthorizedKeys, HostKeyPath: hk,
		UDPPort: f.UDPPort, StateDir: state, Log: f.Log,
	}, nil
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
