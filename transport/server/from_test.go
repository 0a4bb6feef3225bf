package server

import (
	"net/netip"
	"strings"
	"testing"
)

func TestFromListMatchesAsOpenSSH(t *testing.T) {
	cases := []struct {
		from string
		ip   string
		want bool
	}{
		{"10.9.9.9", "127.0.0.1", false},
		{"10.9.9.9", "10.9.9.9", true},
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.1", "127.0.0.10", false},
		{"10.0.0.0/8", "10.200.3.4", true},
		{"10.0.0.0/8", "11.0.0.1", false},
		{"0.0.0.0/0", "192.0.2.1", true},
		{"0.0.0.0/0", "2001:db8::1", false},
		{"10.0.0.*", "10.0.0.77", true},
		{"10.0.0.?", "10.0.0.7", true},
		{"10.0.0.?", "10.0.0.77", false},
		{"*", "203.0.113.9", true},
		{"*,!10.1.2.3", "10.1.2.3", false},
		{"!10.1.2.3,*", "10.1.2.3", false},
		{"!10.1.2.3,*", "10.1.2.4", true},
		{"!10.0.0.0/8,*", "10.3.3.3", false},
		{"10.0.0.0/8,!10.9.0.0/16", "10.9.1.1", false},
		{"10.0.0.0/8,!10.9.0.0/16", "10.8.1.1", true},
		{"!10.9.9.9", "127.0.0.1", false}, // a negation alone lets no one in
		{"2001:db8::/32", "2001:db8:1::5", true},
		{"2001:db8::/32", "2001:db9::5", false},
		{"2001:DB8::*", "2001:db8::5", true}, // patterns match case-blind
		{"::1", "::1", true},
		{"127.0.0.1", "::ffff:127.0.0.1", true}, // a mapped client address is its IPv4
		{"host.example.com", "127.0.0.1", false},
		{"*.example.com", "127.0.0.1", false},
		{"localhost", "127.0.0.1", false}, // names are never resolved
		{"192.0.2.1,127.0.0.1", "127.0.0.1", true},
	}
	for _, c := range cases {
		l, err := parseFrom(c.from)
		if err != nil {
			t.Errorf("from=%q: %v", c.from, err)
			continue
		}
		if got := l.permits(netip.MustParseAddr(c.ip)); got != c.want {
			t.Errorf("from=%q, client %s: permits %v, want %v", c.from, c.ip, got, c.want)
		}
	}
}

func TestFromListRefusesWhatSSHDCannotUse(t *testing.T) {
	for from, want := range map[string]string{
		"":                 "empty entry",
		"10.0.0.1,":        "empty entry",
		"!":                "empty entry",
		"10.0.0.1/8":       "beyond its /8 mask",
		"10.0.0.0/33":      "longer than the address",
		"2001:db8::1/32":   "beyond its /32 mask",
		"*,10.0.0.1/24,!x": "beyond its /24 mask",
	} {
		_, err := parseFrom(from)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("from=%q: %v, want an error with %q", from, err, want)
		}
	}
	// Not an address: only a pattern, as sshd.
	for _, from := range []string{"foo/8", "10.0.0.0/x", "10.0.0.0/", "10.0.0.0/+8"} {
		l, err := parseFrom(from)
		if err != nil || l.entries[0].isNet {
			t.Errorf("from=%q: %v, %+v; want a plain pattern", from, err, l)
		}
	}
}

func TestFromListNamesHostPatterns(t *testing.T) {
	l, err := parseFrom("10.0.0.0/8,*.example.com,!bad.host,127.0.0.*,fe80::*")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(l.hostNames(), ","); got != "*.example.com" {
		t.Fatalf("hostNames = %q", got)
	}
}

func TestMatchPattern(t *testing.T) {
	for _, c := range []struct {
		s, p string
		want bool
	}{
		{"", "", true},
		{"", "*", true},
		{"a", "", false},
		{"abc", "abc", true},
		{"abc", "a?c", true},
		{"abc", "a*", true},
		{"abc", "*c", true},
		{"abc", "*b*", true},
		{"abc", "*d*", false},
		{"aaab", "*a*ab", true},
		{"ab", "a?b", false},
		{"10.0.0.1", "10.*.1", true},
		{strings.Repeat("a", 200), strings.Repeat("*a", 50) + "b", false},
	} {
		if got := matchPattern(c.s, c.p); got != c.want {
			t.Errorf("matchPattern(%q, %q) = %v, want %v", c.s, c.p, got, c.want)
		}
	}
}

// TestFromListReadsShortIPv4AsSSHD: sshd reads from= addresses with
// getaddrinfo(AI_NUMERICHOST), which takes inet_aton's forms ("10.1" is
// 10.0.0.1, "012" is octal, "0xa" hex). Read as mere patterns, they match
// nothing, so a negation written that way refused no one sshd refuses.
func TestFromListReadsShortIPv4AsSSHD(t *testing.T) {
	cases := []struct {
		from string
		ip   string
		want bool
	}{
		{"*,!10.1", "10.0.0.1", false},
		{"*,!10.1", "10.0.0.2", true},
		{"*,!127.1", "127.0.0.1", false},
		{"*,!0x7f.1", "127.0.0.1", false},
		{"*,!0177.0.0.1", "127.0.0.1", false},
		{"*,!2130706433", "127.0.0.1", false},
		{"*,!10.0.0.0/8", "10.3.3.3", false},
		{"10.1", "10.0.0.1", true},
		{"10.0/16", "10.0.9.9", true},
	}
	for _, c := range cases {
		l, err := parseFrom(c.from)
		if err != nil {
			t.Errorf("from=%q: %v", c.from, err)
			continue
		}
		if got := l.permits(netip.MustParseAddr(c.ip)); got != c.want {
			t.Errorf("from=%q, client %s: permits %v, want %v", c.from, c.ip, got, c.want)
		}
	}
	// "10/8" is 0.0.0.10/8 to sshd: host bits set, the key is refused.
	if _, err := parseFrom("*,!10/8"); err == nil {
		t.Errorf("from=%q parsed; sshd refuses the key", "*,!10/8")
	}
	// Not addresses: still only patterns.
	for _, from := range []string{"10.0.0.256", "1.2.3.4.5", "08.1", "0x.1", "10..1", "1e3", "10.0.0.*"} {
		l, err := parseFrom(from)
		if err != nil || l.entries[0].isNet {
			t.Errorf("from=%q: %v, %+v; want a plain pattern", from, err, l)
		}
	}
}
