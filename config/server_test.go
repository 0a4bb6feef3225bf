package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/versions"
)

func writeFile(t *testing.T, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "server.yaml")
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadServer(t *testing.T) {
	t.Setenv("HOME", testHome)
	p := writeFile(t, `
listen: 127.0.0.1:4000
host_key: /etc/ferry/host_key
max_connections: 8
total_rate: 1Gbps
users:
  - {name: alice, root: /srv/alice, authorized_keys: ~/keys/alice, rate: 100Mbps}
  - name: bob
    root: /srv/bob
    authorized_keys: /etc/ferry/bob.keys
`)
	s, err := LoadServer(p)
	if err != nil {
		t.Fatal(err)
	}
	want := &ServerConfig{
		File: p, Listen: "127.0.0.1:4000", UDPPort: 4000, StateDir: testHome + "/.local/state/ferry",
		HostKey: "/etc/ferry/host_key", MaxConnections: 8, TotalRate: 1_000_000_000, UDPPortFromListen: true, StateDirFromDefault: true,
		Users: []User{
			{Name: "alice", Root: "/srv/alice", AuthorizedKeys: testHome + "/keys/alice", Rate: 100_000_000, Versions: versions.DefaultPolicy()},
			{Name: "bob", Root: "/srv/bob", AuthorizedKeys: "/etc/ferry/bob.keys", Versions: versions.DefaultPolicy()},
		},
		Versions: versions.DefaultPolicy(),
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("got  %+v\nwant %+v", s, want)
	}
	if u, ok := s.User("bob"); !ok || u.Root != "/srv/bob" {
		t.Errorf("User(bob) = %+v, %v", u, ok)
	}
}

func TestLoadServerDefaults(t *testing.T) {
	t.Setenv("HOME", testHome)
	s, err := ParseServer("s.yaml", []byte("users: [{name: a, root: /r, authorized_keys: /k}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Listen != ":33001" || s.UDPPort != 33001 || s.MaxConnections != 64 || s.TotalRate != 0 ||
		s.HostKey != testHome+"/.local/state/ferry/host_key" || !s.StateDirFromDefault {
		t.Errorf("defaults: %+v", s)
	}
	s, err = ParseServer("s.yaml", []byte("state_dir: /var/lib/ferry\nusers: [{name: a, root: /r, authorized_keys: /k}]\n"))
	if err != nil || s.StateDir != "/var/lib/ferry" || s.StateDirFromDefault || s.HostKey != "/var/lib/ferry/host_key" {
		t.Errorf("state_dir given: %+v, %v", s, err)
	}
	s, err = ParseServer("s.yaml", []byte("udp_port: 0\nusers: [{name: a, root: /r, authorized_keys: /k}]\n"))
	if err != nil || s.UDPPort != 0 {
		t.Errorf("udp_port: 0 must turn UDP off: %+v, %v", s, err)
	}
}

func TestLoadServerErrors(t *testing.T) {
	t.Setenv("HOME", testHome)
	user := "users:\n  - {name: a, root: /r, authorized_keys: /k}\n"
	cases := map[string]struct {
		yaml  string
		line  int
		field string
		msg   string
	}{
		"unknown key":     {"port: 1\n" + user, 1, "port", "unknown key"},
		"bad listen":      {"listen: nowhere\n" + user, 1, "listen", "not an address"},
		"bad udp port":    {"udp_port: 70000\n" + user, 1, "udp_port", "between 0"},
		"bad rate":        {"total_rate: lots\n" + user, 1, "total_rate", "not a rate"},
		"no users":        {"listen: :1\n", 0, "users", "at least one user"},
		"relative root":   {"users:\n  - name: a\n    root: r\n    authorized_keys: /k\n", 3, "users[0].root", "not an absolute path"},
		"missing keys":    {"users:\n  - name: a\n    root: /r\n", 2, "users[0].authorized_keys", "is required"},
		"duplicate user":  {user + "  - {name: a, root: /s, authorized_keys: /k}\n", 3, "users[1].name", "already the name"},
		"bad user name":   {"users:\n  - {name: 'a b', root: /r, authorized_keys: /k}\n", 2, "users[0].name", "may contain only"},
		"bad user rate":   {"users:\n  - {name: a, root: /r, authorized_keys: /k, rate: -1}\n", 2, "users[0].rate", "negative"},
		"max connections": {"max_connections: 0\n" + user, 1, "max_connections", "at least 1"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseServer("s.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			errs := configErrors(t, err)
			e := errs[0]
			if len(errs) != 1 || e.Line != c.line || e.Field != c.field || !strings.Contains(e.Msg, c.msg) {
				t.Errorf("got %v\nwant line %d field %s msg %q", err, c.line, c.field, c.msg)
			}
		})
	}
}
