package proxy

import (
	"strings"
	"testing"
)

func TestFromEnvironment(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		host string
		port int
		want string // the proxy, "" for none
		from string
	}{
		{"nothing set", nil, "nas.example", 33001, "", ""},
		{"HTTPS_PROXY", map[string]string{"HTTPS_PROXY": "http://p:3128"}, "nas.example", 33001, "http://p:3128", "HTTPS_PROXY"},
		{"lower case", map[string]string{"https_proxy": "http://p:3128"}, "nas.example", 33001, "http://p:3128", "https_proxy"},
		{"upper before lower", map[string]string{"HTTPS_PROXY": "http://a:1", "https_proxy": "http://b:2"}, "h", 1, "http://a:1", "HTTPS_PROXY"},
		{"HTTPS before ALL", map[string]string{"ALL_PROXY": "socks5://s:1080", "https_proxy": "http://p:3128"}, "h", 1, "http://p:3128", "https_proxy"},
		{"ALL_PROXY socks", map[string]string{"ALL_PROXY": "socks5h://u:pw@s:1080"}, "h", 1, "socks5://u:xxxxx@s:1080", "ALL_PROXY"},
		{"all_proxy", map[string]string{"all_proxy": "socks5://s:1080"}, "h", 1, "socks5://s:1080", "all_proxy"},
		{"HTTP_PROXY is not read", map[string]string{"HTTP_PROXY": "http://p:3128"}, "h", 1, "", ""},
		{"no scheme is http", map[string]string{"HTTPS_PROXY": "p:3128"}, "h", 1, "http://p:3128", "HTTPS_PROXY"},
		{"blank is unset", map[string]string{"HTTPS_PROXY": " ", "ALL_PROXY": "http://p:1"}, "h", 1, "http://p:1", "ALL_PROXY"},
		{"NO_PROXY star", map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "*"}, "h", 1, "", ""},
		{"NO_PROXY domain", map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "a.org, example.com"}, "nas.Example.com", 1, "", ""},
		{"NO_PROXY domain itself", map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": ".example.com"}, "example.com", 1, "", ""},
		{"NO_PROXY *. domain", map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "*.example.com"}, "nas.example.com", 1, "", ""},
		{"NO_PROXY suffix is not a domain", map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "example.com"}, "badexample.com", 1, "http://p:3128", "HTTPS_PROXY"},
		{"NO_PROXY ip", map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "10.0.0.5"}, "10.0.0.5", 1, "", ""},
		{"NO_PROXY other ip", map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "10.0.0.5"}, "10.0.0.6", 1, "http://p:3128", "HTTPS_PROXY"},
		{"NO_PROXY cidr", map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "192.168.0.0/16"}, "192.168.7.1", 1, "", ""},
		{"NO_PROXY v6", map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "[::1]"}, "::1", 1, "", ""},
		{"NO_PROXY port", map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "nas:33001"}, "nas", 33001, "", ""},
		{"NO_PROXY other port", map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "nas:22"}, "nas", 33001, "http://p:3128", "HTTPS_PROXY"},
		{"loopback not exempt", map[string]string{"HTTPS_PROXY": "http://p:3128"}, "127.0.0.1", 1, "http://p:3128", "HTTPS_PROXY"},
		{"no_proxy lower", map[string]string{"HTTPS_PROXY": "http://p:3128", "no_proxy": "nas"}, "nas", 1, "", ""},
		{"a name is not an ip", map[string]string{"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "10.0.0.0/8"}, "ten.example", 1, "http://p:3128", "HTTPS_PROXY"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, from, err := FromEnvironment(func(k string) string { return c.env[k] }, c.host, c.port)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if p != nil {
				got = p.String()
			}
			if got != c.want || from != c.from {
				t.Errorf("got %q from %q, want %q from %q", got, from, c.want, c.from)
			}
		})
	}
}

func TestFromEnvironmentBadValue(t *testing.T) {
	env := map[string]string{"ALL_PROXY": "ftp://u:secret@p:21"}
	_, _, err := FromEnvironment(func(k string) string { return env[k] }, "h", 1)
	if err == nil || !strings.Contains(err.Error(), "environment variable ALL_PROXY") || !strings.Contains(err.Error(), `scheme "ftp"`) {
		t.Errorf("got %v, want an error naming ALL_PROXY and the scheme", err)
	}
	if err != nil && strings.Contains(err.Error(), "secret") {
		t.Errorf("the error shows the password: %v", err)
	}
}
