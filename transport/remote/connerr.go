package remote

import (
	"fmt"
	"net"
)

// connectError is a connection to the server that could not be made: the
// TCP connection (nothing listens, a firewall) or the SSH handshake
// (something that is not a ferry server answers). It wraps ErrDisconnected,
// so it is retried like a lost connection, but says what happened, never
// "lost" for a connection that never was.
type connectError struct {
	addr      string
	handshake bool // TCP connected, the SSH handshake failed
	err       error
}

func (e *connectError) Error() string {
	if e.handshake {
		return fmt.Sprintf("unable to connect to ferry server %s: the port answers, but not as a ferry server (is something else listening there, or is the port wrong? a ferry serve at its connection limit also hangs up: see its log): %v", e.addr, e.err)
	}
	port := e.addr
	if _, p, err := net.SplitHostPort(e.addr); err == nil {
		port = p
	}
	return fmt.Sprintf("unable to connect to ferry server %s: %v; check that `ferry serve` runs on that host and listens on port %s, and that a firewall lets TCP %s through", e.addr, e.err, port, port)
}

func (e *connectError) Unwrap() []error { return []error{ErrDisconnected, e.err} }
