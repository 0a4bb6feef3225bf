package config

import (
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/versions"
)

func TestJobVersions(t *testing.T) {
	t.Setenv("HOME", testHome)
	cases := []struct {
		name, yaml string
		want       versions.Policy
	}{
		{"default", ``, versions.DefaultPolicy()},
		{"staggered", "keep: staggered\n    max_age: 90d\n    max_size: 5GiB",
			versions.Policy{Keep: versions.KeepStaggered, MaxAge: 90 * 24 * time.Hour, Count: 5, MaxSize: 5 << 30}},
		{"simple", "keep: simple\n    count: 3",
			versions.Policy{Keep: versions.KeepSimple, MaxAge: 30 * 24 * time.Hour, Count: 3, MaxPercent: 10}},
		{"none", "keep: none",
			versions.Policy{Keep: versions.KeepNone, MaxAge: 30 * 24 * time.Hour, Count: 5, MaxPercent: 10}},
		{"weeks and percent", "max_age: 2w\n    max_size: 2.5%",
			versions.Policy{Keep: versions.KeepTrashcan, MaxAge: 14 * 24 * time.Hour, Count: 5, MaxPercent: 2.5}},
		{"no bounds", "max_age: 0\n    max_size: 0",
			versions.Policy{Keep: versions.KeepTrashcan, Count: 5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := "jobs:\n- name: docs\n  local: /l\n  remote: /r\n"
			if c.yaml != "" {
				doc += "  versions:\n    " + c.yaml + "\n"
			}
			cfg, err := Parse("jobs.yaml", []byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Jobs[0].Versions; got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestJobVersionsErrorsNameTheJobAndField(t *testing.T) {
	t.Setenv("HOME", testHome)
	cases := []struct{ yaml, field, msg string }{
		{"keep: forever", "jobs[1].versions.keep", `"forever"`},
		{"keep: simple\n    count: 0", "jobs[1].versions.count", "at least 1"},
		{"max_age: soon", "jobs[1].versions.max_age", "not an age"},
		{"max_size: 120%", "jobs[1].versions.max_size", "percentage"},
		{"max_size: lots", "jobs[1].versions.max_size", "nor a size"},
		{"count: -1", "jobs[1].versions.count", "negative"},
		{"kept: 3", "jobs[1].versions.kept", "unknown key"},
	}
	for _, c := range cases {
		doc := "jobs:\n- {name: a, local: /a, remote: /b}\n- name: docs\n  local: /l\n  remote: /r\n  versions:\n    " + c.yaml + "\n"
		_, err := Parse("jobs.yaml", []byte(doc))
		if err == nil {
			t.Errorf("%q: no error", c.yaml)
			continue
		}
		if !strings.Contains(err.Error(), "jobs.yaml:") || !strings.Contains(err.Error(), c.field+": ") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: %v; want %s and %q", c.yaml, err, c.field, c.msg)
		}
	}
}

func TestServerVersionsPerUser(t *testing.T) {
	t.Setenv("HOME", testHome)
	s, err := ParseServer("server.yaml", []byte(`
versions:
  keep: staggered
  max_age: 365d
users:
  - {name: alice, root: /srv/alice, authorized_keys: /k}
  - name: bob
    root: /srv/bob
    authorized_keys: /k
    versions: {keep: simple, count: 2}
`))
	if err != nil {
		t.Fatal(err)
	}
	year := 365 * 24 * time.Hour
	if want := (versions.Policy{Keep: versions.KeepStaggered, MaxAge: year, Count: 5, MaxPercent: 10}); s.Users[0].Versions != want {
		t.Errorf("alice: %+v, want %+v", s.Users[0].Versions, want)
	}
	if want := (versions.Policy{Keep: versions.KeepSimple, MaxAge: year, Count: 2, MaxPercent: 10}); s.Users[1].Versions != want {
		t.Errorf("bob: %+v, want %+v", s.Users[1].Versions, want)
	}
	_, err = ParseServer("server.yaml", []byte("users:\n- name: a\n  root: /r\n  authorized_keys: /k\n  versions: {keep: forever}\n"))
	if err == nil || !strings.Contains(err.Error(), "users[0].versions.keep") {
		t.Errorf("bad keep: %v", err)
	}
}

func TestParseSizeAndAge(t *testing.T) {
	for s, want := range map[string]StoreSize{
		"10%": {Percent: 10}, "0": {}, "500MB": {Bytes: 500e6}, "5GiB": {Bytes: 5 << 30}, "1T": {Bytes: 1 << 40}, "123": {Bytes: 123},
	} {
		if got, err := ParseStoreSize(s); err != nil || got != want {
			t.Errorf("ParseStoreSize(%q) = %+v, %v", s, got, err)
		}
	}
	for s, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "36h": 36 * time.Hour, "0": 0} {
		if got, err := ParseAge(s); err != nil || got != want {
			t.Errorf("ParseAge(%q) = %v, %v", s, got, err)
		}
	}
}
