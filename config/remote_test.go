package config

import (
	"reflect"
	"strings"
	"testing"
)

// TestParseRemoteURLWithSeveralServers: a URL may list several servers of
// one namespace, each with its own port or the default; every mistake in
// the list is said with the server it is in.
func TestParseRemoteURLWithSeveralServers(t *testing.T) {
	good := []struct {
		in    string
		hosts []HostPort
		canon string
	}{
		{"ferry://alice@n1,n2:33002,10.0.0.3:33001/docs",
			[]HostPort{{"n1", 33001}, {"n2", 33002}, {"10.0.0.3", 33001}},
			"ferry://alice@n1:33001,n2:33002,10.0.0.3:33001/docs"},
		{"ferry://alice@[::1]:33002,[fe80::1],n3/",
			[]HostPort{{"::1", 33002}, {"fe80::1", 33001}, {"n3", 33001}},
			"ferry://alice@[::1]:33002,[fe80::1]:33001,n3:33001/"},
		{"ferry://a.b@n1:1,n1:2/x/y/", []HostPort{{"n1", 1}, {"n1", 2}}, "ferry://a.b@n1:1,n1:2/x/y"},
	}
	for _, c := range good {
		got, err := ParseRemoteURL(c.in)
		if err != nil {
			t.Errorf("ParseRemoteURL(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got.Hosts, c.hosts) || got.Host != c.hosts[0].Host || got.Port != c.hosts[0].Port {
			t.Errorf("ParseRemoteURL(%q) = %+v, want hosts %+v with the first as Host and Port", c.in, got, c.hosts)
		}
		if s := got.String(); s != c.canon {
			t.Errorf("ParseRemoteURL(%q).String() = %q, want %q", c.in, s, c.canon)
		}
		again, err := ParseRemoteURL(got.String())
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("round trip through %q gave %+v, %v", got.String(), again, err)
		}
		if !reflect.DeepEqual(got.Servers(), c.hosts) {
			t.Errorf("Servers() = %+v, want %+v", got.Servers(), c.hosts)
		}
	}
	// A URL naming one server has no list: it reads as it always has.
	one, err := ParseRemoteURL("ferry://me@nas:4000/x")
	if err != nil || one.Hosts != nil || !reflect.DeepEqual(one.Servers(), []HostPort{{"nas", 4000}}) {
		t.Fatalf("single server: %+v, %v", one, err)
	}

	bad := []struct{ in, says string }{
		{"ferry://me@n1,,n2/x", `server 2 of the list ("") is empty`},
		{"ferry://me@n1,/x", `server 2 of the list ("") is empty`},
		{"ferry://me@n1,n2:0/x", `server 2 of the list ("n2:0") has a port that is not between 1 and 65535`},
		{"ferry://me@n1,n2:70000/x", "not between 1 and 65535"},
		{"ferry://me@n1,n2:/x", `("n2:") has an empty port`},
		{"ferry://me@n1,::1/x", "IPv6 address without brackets"},
		{"ferry://me@n1,[::1/x", `server 2 of the list ("[::1")`},
		{"ferry://me@n1,N1:33001/x", "it lists server N1:33001 twice"},
		{"ferry://me@n1,n 2/x", `server 2 of the list ("n 2")`},
		{"ferry://n1,n2/x", "it names no user"},
		{"ferry://me:pw@n1,n2/x", "password"},
		{"ferry://me@n1,n2", "the path must be absolute"},
		{"ferry://me@n1,n2/x?y", "query"},
		{"ferry://me@n1,n2/a/../b", "clean"},
	}
	for _, c := range bad {
		got, err := ParseRemoteURL(c.in)
		if err == nil {
			t.Errorf("ParseRemoteURL(%q) = %+v, want an error", c.in, got)
			continue
		}
		if !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), c.in) {
			t.Errorf("ParseRemoteURL(%q): %v; want it to quote the URL and say %q", c.in, err, c.says)
		}
	}
}

// TestSeveralServersNamedInAJobsFile: a job's remote may list several
// servers; a mistake in the list names the job's field.
func TestSeveralServersNamedInAJobsFile(t *testing.T) {
	j := Job{Name: "docs", Local: "/home/me/docs", Remote: "ferry://me@n1,n2:x/docs"}
	ps := j.problems("jobs[0]")
	var found bool
	for _, p := range ps {
		if p.field == "jobs[0].remote" && strings.Contains(p.msg, `server 2 of the list ("n2:x")`) {
			found = true
		}
	}
	if !found {
		t.Fatalf("problems %+v do not name jobs[0].remote and the second server", ps)
	}
}
