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

// ParseRemoteURL parses ferry://user@host[:port]/path, or
// ferry://user@host[:port],host[:port],.../path for several servers of one
// namespace (an IPv6 address in brackets, [::1]:33002). The path must be
// absolute and clean; a server without a port has DefaultPort.
func ParseRemoteURL(s string) (*RemoteURL, error) {
	bad := func(why string) (*RemoteURL, error) {
		return nil, fmt.Errorf("%q is not a valid ferry:// URL: %s (write it like ferry://user@host:33001/path, or ferry://user@host1,host2:33002/path for several servers)", s, why)
	}
	if !IsRemoteURL(s) {
		return bad("it does not start with ferry://")
	}
	rest := s[len(Scheme):]
	auth := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		auth = rest[:i]
	}
	user, list := "", auth
	if at := strings.LastIndex(auth, "@"); at >= 0 {
		user, list = auth[:at+1], auth[at+1:]
	}
	if !strings.Contains(list, ",") {
		return parseOne(s, bad)
	}
	// Several servers: each is checked on its own, and the rest of the
	// URL with the first in the place of the list.
	entries := strings.Split(list, ",")
	hosts := make([]HostPort, 0, len(entries))
	seen := map[HostPort]bool{}
	for i, h := range entries {
		hp, why := parseHostPort(h)
		if why != "" {
			return bad(fmt.Sprintf("server %d of the list (%q) %s", i+1, h, why))
		}
		key := HostPort{Host: strings.ToLower(hp.Host), Port: hp.Port}
		if seen[key] {
			return bad(fmt.Sprintf("it lists server %s twice", net.JoinHostPort(hp.Host, strconv.Itoa(hp.Port))))
		}
		seen[key] = true
		hosts = append(hosts, hp)
	}
	r, err := parseOne(Scheme+user+entries[0]+rest[len(auth):], bad)
	if err != nil {
		return nil, err
	}
	r.Hosts = hosts
	return r, nil
}

// parseHostPort parses one server of a list: host, host:port, [v6] or
// [v6]:port. why says what is wrong with it, "" when nothing is.
func parseHostPort(h string) (hp HostPort, why string) {
	if h == "" {
		return hp, "is empty"
	}
	u, err := url.Parse(Scheme + "x@" + h + "/")
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return hp, "is not a host[:port]: " + err.Error()
	}
	hp = HostPort{Host: u.Hostname(), Port: DefaultPort}
	switch {
	case hp.Host == "":
		return hp, "names no host"
	case strings.Contains(hp.Host, ":") && !strings.HasPrefix(u.Host, "["):
		return hp, "is an IPv6 address without brackets: write it like [::1]:33001"
	case strings.HasSuffix(u.Host, ":"):
		return hp, "has an empty port"
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return hp, "has a port that is not between 1 and 65535"
		}
		hp.Port = n
	}
	return hp, ""
}

// parseOne parses a URL that names one server.
func parseOne(s string, bad func(string) (*RemoteURL, error)) (*RemoteURL, error) {
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

// String gives the URL back in canonical form, with every port spelled
// out.
func (r RemoteURL) String() string {
	return Scheme + url.PathEscape(r.User) + "@" + strings.Join(r.Addrs(), ",") + r.Path
}

// Addr is host:port of the first (or only) server, for dialing.
func (r RemoteURL) Addr() string { return net.JoinHostPort(r.Host, strconv.Itoa(r.Port)) }

// Servers lists every server of the URL: Hosts, or the one it names.
func (r RemoteURL) Servers() []HostPort {
	if len(r.Hosts) > 0 {
		return r.Hosts
	}
	return []HostPort{{Host: r.Host, Port: r.Port}}
}

// Addrs is host:port of every server, in the URL's order.
func (r RemoteURL) Addrs() []string {
	var out []string
	for _, h := range r.Servers() {
		out = append(out, h.Addr())
	}
	return out
}

// Addr is host:port for dialing.
func (h HostPort) Addr() string { return net.JoinHostPort(h.Host, strconv.Itoa(h.Port)) }
