// Package proxy opens TCP connections through an HTTP CONNECT or SOCKS5
// proxy, and finds the proxy that HTTPS_PROXY, ALL_PROXY and NO_PROXY name
// for an address. It carries the SSH connection to `ferry serve`; UDP
// never passes a proxy.
package proxy

import (
	"context"
	"fmt"
	"net"

	xproxy "golang.org/x/net/proxy"

	"github.com/ferry-sync/ferry/config"
)

// Dialer opens connections; *net.Dialer is one.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

var _ Dialer = (*net.Dialer)(nil)

// New returns a Dialer that reaches every address through p, connecting
// to p itself with forward (a *net.Dialer when nil).
func New(p config.Proxy, forward Dialer) (Dialer, error) {
	if forward == nil {
		forward = &net.Dialer{}
	}
	switch p.Scheme {
	case config.HTTPProxy:
		return &httpDialer{proxy: p, forward: forward}, nil
	case config.SOCKS5Proxy:
		var auth *xproxy.Auth
		if p.HasAuth {
			auth = &xproxy.Auth{User: p.User, Password: p.Password}
		}
		d, err := xproxy.SOCKS5("tcp", p.Addr(), auth, contextOnly{forward})
		if err != nil {
			return nil, fmt.Errorf("unable to set up SOCKS5 proxy %s: %w", p, err)
		}
		// x/net/proxy declares the plain Dialer; its SOCKS5 dialer has
		// always had DialContext, which a dial bounded by the caller's
		// context needs.
		cd, ok := d.(xproxy.ContextDialer)
		if !ok {
			return nil, fmt.Errorf("unable to set up SOCKS5 proxy %s: golang.org/x/net/proxy's dialer %T has no DialContext", p, d)
		}
		return cd, nil
	}
	return nil, fmt.Errorf("unable to set up proxy %s: unknown scheme %q", p, p.Scheme)
}

// contextOnly gives a Dialer the Dial that x/net/proxy's interface asks
// for; SOCKS5 only calls DialContext when it is there.
type contextOnly struct{ Dialer }

var _ xproxy.ContextDialer = contextOnly{}

func (d contextOnly) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, addr)
}
