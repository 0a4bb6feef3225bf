package config

import (
	"strings"
	"testing"
)

func TestParseProxy(t *testing.T) {
	good := []struct {
		in   string
		want Proxy
		str  string
	}{
		{"http://proxy.example:3128", Proxy{Scheme: HTTPProxy, Host: "proxy.example", Port: 3128}, "http://proxy.example:3128"},
		{"http://proxy.example:3128/", Proxy{Scheme: HTTPProxy, Host: "proxy.example", Port: 3128}, "http://proxy.example:3128"},
		{"HTTP://u:p%40ss@10.0.0.1:8080", Proxy{Scheme: HTTPProxy, Host: "10.0.0.1", Port: 8080, User: "u", Password: "p@ss", HasAuth: true}, "http://u:xxxxx@10.0.0.1:8080"},
		{"socks5://[::1]:1080", Proxy{Scheme: SOCKS5Proxy, Host: "::1", Port: 1080}, "socks5://[::1]:1080"},
		{"socks5h://user@h:1080", Proxy{Scheme: SOCKS5Proxy, Host: "h", Port: 1080, User: "user", HasAuth: true}, "socks5://user@h:1080"},
	}
	for _, c := range good {
		p, err := ParseProxy(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if *p != c.want || p.String() != c.str {
			t.Errorf("%s: got %+v (%s), want %+v (%s)", c.in, *p, p, c.want, c.str)
		}
	}
	bad := map[string]string{
		"proxy.example:3128":              "it has no scheme",
		"https://proxy.example:3128":      "(https://) is not supported",
		"socks4://proxy.example:1080":     `the scheme "socks4" is not supported`,
		"http://proxy.example":            "it names no port",
		"http://proxy.example:0":          "the port must be between 1 and 65535",
		"http://proxy.example:x":          "invalid port",
		"http://proxy.example:3128/path":  "no path, query or fragment",
		"http://proxy.example:3128?a=b":   "no path, query or fragment",
		"http://:pw@proxy.example:3128":   "a password but no user",
		"http://u:secret@proxy.example:x": "invalid port",
		"http://u:secret@[::1:3128":       "",
	}
	for in, want := range bad {
		_, err := ParseProxy(in)
		if err == nil {
			t.Errorf("%s: accepted", in)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want it to say %q", in, err, want)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the message shows the password: %v", in, err)
		}
	}
}

// A proxy with transport: tcp or auto is fine, and proxy: none is not a
// URL to parse.
func TestProxyWithTransport(t *testing.T) {
	t.Setenv("HOME", testHome)
	for _, y := range []string{
		"    proxy: http://p:3128\n    transport: auto\n",
		"    proxy: socks5://p:1080\n    transport: tcp\n",
		"    proxy: none\n    transport: udp\n",
	} {
		cfg, err := Parse("t.yaml", []byte("jobs:\n  - name: j\n    local: /a\n    remote: ferry://u@h/r\n"+y))
		if err != nil {
			t.Errorf("%q: %v", y, err)
			continue
		}
		if cfg.Jobs[0].Proxy == "" {
			t.Errorf("%q: proxy not kept", y)
		}
	}
}
