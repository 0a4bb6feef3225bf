package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// ProxyNone is the value of a job's proxy key that connects directly and
// ignores the proxy environment variables.
const ProxyNone = "none"

// ProxyScheme is how a proxy is spoken to.
type ProxyScheme string

const (
	HTTPProxy   ProxyScheme = "http"   // HTTP CONNECT
	SOCKS5Proxy ProxyScheme = "socks5" // SOCKS version 5 (RFC 1928, 1929)
)

// Proxy is a parsed proxy URL, http://[user:pass@]host:port or
// socks5://[user:pass@]host:port. It carries the SSH connection of a
// ferry:// remote.
type Proxy struct {
	Scheme ProxyScheme
	Host   string
	Port   int
	// User and Password authenticate to the proxy (Basic for HTTP,
	// RFC 1929 for SOCKS5); HasAuth is false when the URL has no user.
	User, Password string
	HasAuth        bool
}

// Addr is the proxy's host:port.
func (p Proxy) Addr() string { return net.JoinHostPort(p.Host, strconv.Itoa(p.Port)) }

// String gives the proxy as a URL without its password, for logs and
// messages.
func (p Proxy) String() string {
	auth := ""
	if p.HasAuth {
		auth = url.User(p.User).String()
		if p.Password != "" {
			auth += ":xxxxx"
		}
		auth += "@"
	}
	return string(p.Scheme) + "://" + auth + p.Addr()
}

// ParseProxy parses a proxy URL: http://[user:pass@]host:port (HTTP
// CONNECT) or socks5://[user:pass@]host:port (socks5h:// is taken as
// socks5: ferry always lets a SOCKS5 proxy resolve the server's name).
// Messages never repeat the password.
func ParseProxy(s string) (*Proxy, error) {
	shown := redactProxy(s)
	bad := func(why string) (*Proxy, error) {
		return nil, fmt.Errorf("%q is not a proxy URL: %s (write it like http://proxy.example.com:3128 or socks5://user:pass@proxy.example.com:1080, or %s to connect directly)", shown, why, ProxyNone)
	}
	if !strings.Contains(s, "://") {
		return bad("it has no scheme")
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		// url.Parse quotes the input, password and all, in some errors.
		return bad(strings.ReplaceAll(err.Error(), s, shown))
	}
	p := &Proxy{Host: u.Hostname()}
	switch strings.ToLower(u.Scheme) {
	case "http":
		p.Scheme = HTTPProxy
	case "socks5", "socks5h":
		p.Scheme = SOCKS5Proxy
	case "https":
		return bad("a TLS connection to the proxy (https://) is not supported; use http:// (the SSH connection inside is encrypted either way)")
	default:
		return bad(fmt.Sprintf("the scheme %q is not supported: use http (HTTP CONNECT) or socks5", u.Scheme))
	}
	switch {
	case p.Host == "":
		return bad("it names no host")
	case u.Port() == "":
		return bad("it names no port")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.ForceQuery, u.Fragment != "":
		return bad("it must be only scheme://host:port, with no path, query or fragment")
	}
	n, err := strconv.Atoi(u.Port())
	if err != nil || n < 1 || n > 65535 {
		return bad("the port must be between 1 and 65535")
	}
	p.Port = n
	if u.User != nil {
		p.HasAuth = true
		p.User = u.User.Username()
		p.Password, _ = u.User.Password()
		if p.User == "" {
			return bad("it has a password but no user")
		}
	}
	return p, nil
}

// redactProxy hides the password of a proxy URL, also one that does not
// parse.
func redactProxy(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		scheme, rest = "", s
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return s
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return s
	}
	if ok {
		scheme += "://"
	}
	return scheme + user + ":xxxxx" + rest[at:]
}
