package server

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKeyOptions(t *testing.T) {
	berlin := time.FixedZone("test+2", 2*3600)
	cases := []struct {
		opts    []string
		refused string // "" when the line is usable
		check   func(t *testing.T, ko keyOptions)
	}{
		{opts: nil},
		{opts: []string{"restrict"}},
		{opts: []string{"no-pty", "no-port-forwarding", "no-agent-forwarding", "No-X11-Forwarding", "no-user-rc"}},
		{opts: []string{"touch-required"}},
		{opts: []string{"no-touch-required", "touch-required"}, check: func(t *testing.T, ko keyOptions) {
			if ko.noTouch {
				t.Error("touch-required after no-touch-required did not count")
			}
		}},
		{opts: []string{"no-touch-required"}, check: func(t *testing.T, ko keyOptions) {
			if !ko.noTouch {
				t.Error("no-touch-required not kept")
			}
		}},
		{opts: []string{`from="10.9.9.9"`, "restrict"}, check: func(t *testing.T, ko keyOptions) {
			if ko.from == nil || ko.from.raw != "10.9.9.9" {
				t.Errorf("from = %+v", ko.from)
			}
		}},
		{opts: []string{`FROM="10.0.0.0/8,!10.9.9.9"`}},
		{opts: []string{`expiry-time="20300102"`}, check: func(t *testing.T, ko keyOptions) {
			if want := time.Date(2030, 1, 2, 0, 0, 0, 0, berlin); !ko.expires.Equal(want) {
				t.Errorf("expires %v, want %v (local zone)", ko.expires, want)
			}
		}},
		{opts: []string{`expiry-time="203001021530"`, `expiry-time="20300102153045Z"`}, check: func(t *testing.T, ko keyOptions) {
			// The earliest counts: 15:30 at +2 is 13:30 UTC.
			if want := time.Date(2030, 1, 2, 13, 30, 0, 0, time.UTC); !ko.expires.Equal(want) {
				t.Errorf("expires %v, want %v", ko.expires, want)
			}
		}},
		{opts: []string{`command="/bin/true"`}, refused: "command= is not supported"},
		{opts: []string{`principals="alice"`}, refused: "principals= is not supported"},
		{opts: []string{"cert-authority"}, refused: `"cert-authority" is not supported`},
		{opts: []string{`permitopen="localhost:80"`}, refused: "permitopen= is not supported"},
		{opts: []string{`permitlisten="8080"`}, refused: "permitlisten= is not supported"},
		{opts: []string{`tunnel="0"`}, refused: "tunnel= is not supported"},
		{opts: []string{`environment="A=b"`}, refused: "environment= is not supported"},
		{opts: []string{"restrict", "pty"}, refused: `"pty" is not supported`},
		{opts: []string{"port-forwarding"}, refused: `"port-forwarding" is not supported`},
		{opts: []string{"agent-forwarding"}, refused: "not supported"},
		{opts: []string{"x11-forwarding"}, refused: "not supported"},
		{opts: []string{"user-rc"}, refused: "not supported"},
		{opts: []string{"verify-required"}, refused: `"verify-required" is not supported`},
		{opts: []string{"no-such-option"}, refused: "not supported"},
		{opts: []string{`from=10.0.0.1`}, refused: "not in double quotes"},
		{opts: []string{`from="10.0.0.1`}, refused: "no closing quote"},
		{opts: []string{`from="10.0.0.1"x`}, refused: "after its closing quote"},
		{opts: []string{`from="10.0.0.1"`, `from="10.0.0.2"`}, refused: "twice"},
		{opts: []string{`from="10.0.0.1/8"`}, refused: "beyond its /8 mask"},
		{opts: []string{`expiry-time="2030"`}, refused: "is not YYYYMMDD"},
		{opts: []string{`expiry-time="20301301"`}, refused: "not a valid time"},
		{opts: []string{`expiry-time="2030010x"`}, refused: "is not YYYYMMDD"},
	}
	for _, c := range cases {
		ko, err := parseKeyOptions(c.opts, berlin)
		switch {
		case c.refused == "" && err != nil:
			t.Errorf("%q: refused: %v", c.opts, err)
		case c.refused != "" && (err == nil || !strings.Contains(err.Error(), c.refused)):
			t.Errorf("%q: %v, want a refusal with %q", c.opts, err, c.refused)
		case c.check != nil:
			c.check(t, ko)
		}
	}
}

func TestAuthorizedKeyDenial(t *testing.T) {
	dir := t.TempDir()
	_, line := keyPair(t, dir, "k")
	body := strings.TrimSpace(string(line))
	file := filepath.Join(dir, "authorized_keys")
	content := "# comment\n\n" +
		`from="10.9.9.9" ` + body + " remote-only\n" +
		`from="127.0.0.1",no-pty ` + body + " loopback\n" +
		`expiry-time="20300101Z" ` + body + " expiring\n" +
		`command="/bin/sh" ` + body + " forced\n" +
		body + "\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := parseAuthorizedKeys(file, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 5 {
		t.Fatalf("%d keys, want 5", len(keys))
	}
	loop, far := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.9.9.9")
	before := time.Date(2029, 12, 31, 23, 59, 59, 0, time.UTC)
	after := time.Date(2030, 1, 1, 0, 0, 1, 0, time.UTC)
	for _, c := range []struct {
		i    int
		ip   netip.Addr
		now  time.Time
		want string // substring of the denial; "" lets in
	}{
		{0, loop, before, `from="10.9.9.9" does not allow 127.0.0.1`},
		{0, far, before, ""},
		{1, loop, before, ""},
		{1, far, before, "does not allow 10.9.9.9"},
		{1, netip.Addr{}, before, "does not allow"},
		{2, loop, before, ""},
		{2, loop, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), ""},
		{2, loop, after, "expired at 2030-01-01T00:00:00Z"},
		{3, loop, before, "command= is not supported"},
		{4, far, after, ""},
	} {
		got := keys[c.i].denial(c.ip, c.now)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("line %d (%s) from %v at %v: denial %q, want %q", keys[c.i].line, keys[c.i].comment, c.ip, c.now, got, c.want)
		}
	}
	if keys[0].line != 3 || keys[0].comment != "remote-only" || keys[4].line != 7 {
		t.Errorf("lines/comments: %d %q %d", keys[0].line, keys[0].comment, keys[4].line)
	}
}
