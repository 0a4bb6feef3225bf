package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ferry-sync/ferry/config"
)

// Variables are the environment variables FromEnvironment reads for the
// proxy, in the order it tries them; the first that is set and not empty
// wins. The SSH connection is not HTTP, so HTTP_PROXY is not among them:
// like any other tunnel to a server's port, it follows HTTPS_PROXY.
var Variables = []string{"HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"}

// NoProxyVariables list the hosts that are reached directly.
var NoProxyVariables = []string{"NO_PROXY", "no_proxy"}

// FromEnvironment returns the proxy the environment (read through getenv)
// names for a connection to host:port, and the variable it came from. It
// returns nil when no variable is set or NO_PROXY covers the host. A value
// without a scheme is taken as http://.
//
// NO_PROXY is a comma-separated list, as curl reads it: "*" matches every
// host; a domain matches itself and its subdomains (a leading "." or "*."
// is ignored); an IP address or a CIDR block matches the addresses in it;
// any entry may end in :port to match that port only. Names are compared
// as written, not resolved, and loopback is not exempt unless listed.
func FromEnvironment(getenv func(string) string, host string, port int) (*config.Proxy, string, error) {
	var name, value string
	for _, v := range Variables {
		if s := strings.TrimSpace(getenv(v)); s != "" {
			name, value = v, s
			break
		}
	}
	if value == "" {
		return nil, "", nil
	}
	for _, v := range NoProxyVariables {
		if s := getenv(v); s != "" {
			if bypass(s, host, port) {
				return nil, "", nil
			}
			break
		}
	}
	if !strings.Contains(value, "://") {
		value = "http://" + value
	}
	p, err := config.ParseProxy(value)
	if err != nil {
		return nil, "", fmt.Errorf("environment variable %s: %w", name, err)
	}
	return p, name, nil
}

// bypass reports whether the NO_PROXY list covers host:port.
func bypass(list, host string, port int) bool {
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	ip, ipErr := netip.ParseAddr(host)
	for _, entry := range strings.Split(list, ",") {
		entry = strings.ToLower(strings.TrimSpace(entry))
		if entry == "" {
			continue
		}
		if entry == "*" {
			return true
		}
		name := entry
		if h, p, err := net.SplitHostPort(entry); err == nil {
			n, err := strconv.Atoi(p)
			if err != nil || n != port {
				continue
			}
			name = h
		}
		name = strings.TrimSuffix(strings.Trim(name, "[]"), ".")
		if pre, err := netip.ParsePrefix(name); err == nil {
			if ipErr == nil && pre.Contains(ip.Unmap()) {
				return true
			}
			continue
		}
		if a, err := netip.ParseAddr(name); err == nil {
			if ipErr == nil && a.Unmap() == ip.Unmap() {
				return true
			}
			continue
		}
		name = strings.TrimPrefix(strings.TrimPrefix(name, "*"), ".")
		if name != "" && ipErr != nil && (host == name || strings.HasSuffix(host, "."+name)) {
			return true
		}
	}
	return false
}
