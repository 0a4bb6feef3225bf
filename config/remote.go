package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// DefaultPort is the ferry:// port when a URL names none.
const DefaultPort = 33001

// Scheme prefixes a remote served by `ferry serve`.
const Scheme = "ferry://"

// IsRemoteURL reports whether a job's remote names a ferry server rather
// than a local folder.
func IsRemoteURL(remote string) bool { return strings.HasPrefix(remote, Scheme) }

// ParseRemoteURL parses ferry://user@host[:port]/path. The path must be
// absolute and clean; the port defaults to DefaultPort.
func ParseRemoteURL(s string) (*RemoteURL, error) {
	bad := func(why string) (*RemoteURL, error) {
		return nil, fmt.Errorf("%q is not a valid ferry:// URL: %s (write it like ferry://user@host:33001/path)", s, why)
	}
	if !IsRemoteURL(s) {
		return bad("it does not start with ferry://")
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return bad(ue.Err.Error())
		}
		return bad(err.Error())
	}
	switch {
	case u.User == nil || u.User.Username() == "":
		return bad("it names no user")
	case hasPassword(u):
		return bad("it contains a password; ferry authenticates with SSH keys")
	case u.Hostname() == "":
		return bad("it names no host")
	case u.RawQuery != "" || u.ForceQuery:
		return bad("it has a query")
	case u.Fragment != "":
		return bad("it has a fragment")
	case u.Path == "" || u.Path[0] != '/':
		return bad("the path must be absolute")
	case path.Clean(u.Path) != u.Path && path.Clean(u.Path)+"/" != u.Path:
		return bad("the path must be clean (no //, . or ..)")
	}
	r := &RemoteURL{User: u.User.Username(), Host: u.Hostname(), Port: DefaultPort, Path: path.Clean(u.Path)}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("the port must be between 1 and 65535")
		}
		r.Port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return bad("the port is empty")
	}
	return r, nil
}

func hasPassword(u *url.URL) bool {
	_, ok := u.User.Password()
	return ok
}

// String gives the URL back in canonical form, with the port spelled out.
func (r RemoteURL) String() string {
	return Scheme + url.PathEscape(r.User) + "@" + net.JoinHostPort(r.Host, strconv.Itoa(r.Port)) + r.Path
}

// Addr is host:port for dialing.
func (r RemoteURL) Addr() string { return net.JoinHostPort(r.Host, strconv.Itoa(r.Port)) }
