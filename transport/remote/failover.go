package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// target is one server the endpoint can connect to.
type target struct {
	// addr is host:port as the URL names the server: the name its host
	// key is pinned under in known_hosts, and the one shown.
	addr string
	// dial is what is dialed: addr, or one address of a host name that
	// resolves to several.
	dial string
}

func (t target) String() string {
	if t.dial != t.addr {
		return t.addr + " (" + t.dial + ")"
	}
	return t.addr
}

// targets lists the servers to try, in the order of Options.Hosts: a host
// name that resolves to several addresses of one family (several nodes)
// gives one target per address (dialed directly, pinned under the name).
// Any other name (one address, or one IPv4 and one IPv6 address of one
// server, which the dialer races as it always did), and every name behind
// a proxy, is dialed as it is.
func (e *Endpoint) targets(ctx context.Context) []target {
	ctx, cancel := context.WithTimeout(ctx, e.opts.DialTimeout)
	defer cancel()
	var out []target
	for _, h := range e.opts.Hosts {
		addr := net.JoinHostPort(h.Host, strconv.Itoa(h.Port))
		if e.proxy == nil && net.ParseIP(h.Host) == nil {
			if ips, err := e.opts.LookupHost(ctx, h.Host); err == nil && severalNodes(ips) {
				for _, ip := range ips {
					out = append(out, target{addr: addr, dial: net.JoinHostPort(ip, strconv.Itoa(h.Port))})
				}
				continue
			}
		}
		out = append(out, target{addr: addr, dial: addr})
	}
	return out
}

// severalNodes reports whether a name's addresses are several nodes:
// two or more of one family.
func severalNodes(ips []string) bool {
	var v4, v6 int
	for _, ip := range ips {
		switch p := net.ParseIP(ip); {
		case p == nil:
		case p.To4() != nil:
			v4++
		default:
			v6++
		}
	}
	return v4 > 1 || v6 > 1
}

// dialAny connects to the first server that answers, starting at e.next.
// A server that cannot be reached (an error wrapping ErrDisconnected: no
// connection, or no SSH handshake) passes the turn to the next; any other
// error (a host key refused, a key not authorised) ends the dial there,
// so that a changed host key is said, never stepped around.
func (e *Endpoint) dialAny(ctx context.Context) (*conn, error) {
	ts := e.targets(ctx)
	e.mu.Lock()
	start := e.next
	e.ntargets = len(ts)
	e.mu.Unlock()
	var failed []error
	for i := range ts {
		k := (start + i) % len(ts)
		c, err := e.dial(ctx, ts[k])
		if err == nil {
			e.mu.Lock()
			// The next dial follows a lost connection: it starts at the
			// server after this one.
			e.next = k + 1
			e.mu.Unlock()
			if len(ts) > 1 {
				e.log.Info("connected to ferry server", "server", ts[k].String(), "of", len(ts))
			}
			return c, nil
		}
		if len(ts) == 1 {
			return nil, err
		}
		if !errors.Is(err, ErrDisconnected) || ctx.Err() != nil {
			return nil, err
		}
		e.log.Warn("ferry server unreachable; trying the next", "server", ts[k].String(), "err", err)
		failed = append(failed, err)
	}
	return nil, &UnreachableError{Errs: failed}
}

// UnreachableError is a dial of a remote with several servers that
// reached none: one error per server tried, in the order tried. It wraps
// them all, and so ErrDisconnected.
type UnreachableError struct {
	Errs []error
}

func (e *UnreachableError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "unable to connect to any of the %d ferry servers of the remote, tried in turn: ", len(e.Errs))
	for i, err := range e.Errs {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%d) %v", i+1, err)
	}
	return b.String()
}

func (e *UnreachableError) Unwrap() []error { return e.Errs }

// Server is the server the endpoint is connected to (host:port as the URL
// names it, with the address dialed when a name has several), "" when it
// is not connected.
func (e *Endpoint) Server() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cur == nil || !e.cur.alive() {
		return ""
	}
	return e.cur.t.String()
}

// Servers is how many servers the remote's URL names.
func (e *Endpoint) Servers() int { return len(e.opts.Hosts) }

// failover is how many times a transfer batch goes on on another server
// after losing its connection: once per other server (the URL's, or the
// addresses of a name that has several), none for a single server (its errors go back to the pass, which is retried
// as before).
func (e *Endpoint) failover() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return max(len(e.opts.Hosts), e.ntargets) - 1
}

// lostFiles lists the items whose transfer failed because the connection
// was lost: the ones a failover sends again.
func lostFiles(errs []error) []int {
	var out []int
	for i, err := range errs {
		if err != nil && errors.Is(err, ErrDisconnected) {
			out = append(out, i)
		}
	}
	return out
}
