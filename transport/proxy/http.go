package proxy

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/config"
)

// maxAnswer bounds the proxy's answer to CONNECT (status line and
// headers).
const maxAnswer = 64 << 10

// maxStatus bounds the status line quoted in a RefusedError.
const maxStatus = 200

// RefusedError is a proxy's answer other than 2xx to CONNECT.
type RefusedError struct {
	Target string // the host:port asked for
	// Status is the proxy's status line, like "HTTP/1.1 403 Access
	// violation", cut to a bounded length.
	Status string
	Code   int
	// Auth says credentials were sent (the proxy URL has a user).
	Auth bool
}

// AuthFailed reports whether the proxy wants credentials it was not
// given: none, or others.
func (e *RefusedError) AuthFailed() bool {
	return e.Code == http.StatusProxyAuthRequired || e.Code == http.StatusUnauthorized
}

func (e *RefusedError) Error() string {
	s := fmt.Sprintf("the proxy refused to connect to %s: %q", e.Target, e.Status)
	switch {
	case e.AuthFailed() && e.Auth:
		s += " (it did not accept the user and password of the proxy URL: check them)"
	case e.AuthFailed():
		s += " (it wants a user and password: give them in the proxy URL, http://user:pass@host:port)"
	case e.Code == http.StatusForbidden:
		s += " (its rules do not allow a connection to this address and port: ask its administrator to allow CONNECT to it)"
	}
	return s
}

// httpDialer tunnels through an HTTP proxy with CONNECT.
type httpDialer struct {
	proxy   config.Proxy
	forward Dialer
}

var _ Dialer = (*httpDialer)(nil)

// longAgo is a deadline in the past: it makes blocked reads and writes
// return at once.
var longAgo = time.Unix(1, 0)

func (d *httpDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("unable to connect to %s through an HTTP proxy: network %q is not TCP", addr, network)
	}
	c, err := d.forward.DialContext(ctx, "tcp", d.proxy.Addr())
	if err != nil {
		return nil, fmt.Errorf("unable to reach the proxy: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(longAgo) })
	conn, err := d.connect(c, addr)
	if !stop() {
		// The context's end is why the handshake failed, if it did.
		err = fmt.Errorf("unable to connect through the proxy: %w", ctx.Err())
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return conn, nil
}

// connect asks the proxy on c for a tunnel to addr.
func (d *httpDialer) connect(c net.Conn, addr string) (net.Conn, error) {
	var req strings.Builder
	fmt.Fprintf(&req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ferry\r\n", addr, addr)
	if d.proxy.HasAuth {
		cred := base64.StdEncoding.EncodeToString([]byte(d.proxy.User + ":" + d.proxy.Password))
		fmt.Fprintf(&req, "Proxy-Authorization: Basic %s\r\n", cred)
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(c, req.String()); err != nil {
		return nil, fmt.Errorf("unable to send CONNECT to the proxy: %w", err)
	}
	br := bufio.NewReader(io.LimitReader(c, maxAnswer))
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return nil, fmt.Errorf("unable to read the proxy's answer to CONNECT: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		status := resp.Proto + " " + resp.Status
		if len(status) > maxStatus {
			status = strings.ToValidUTF8(status[:maxStatus], "") + "…"
		}
		return nil, &RefusedError{Target: addr, Status: status, Code: resp.StatusCode, Auth: d.proxy.HasAuth}
	}
	// The server may speak first (SSH does): what came in with the
	// answer is the start of the tunnel.
	if n := br.Buffered(); n > 0 {
		pre, _ := br.Peek(n)
		return &prefixConn{Conn: c, pre: append([]byte(nil), pre...)}, nil
	}
	return c, nil
}

// prefixConn reads pre before the connection.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
