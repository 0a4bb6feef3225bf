package restore

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/versions"
)

func TestPick(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)
	// v is a version of p written at minute mod and kept at minute min.
	v := func(p string, min, mod int, r versions.Reason) versions.Version {
		return versions.Version{Path: p, Time: t0.Add(time.Duration(min) * time.Minute),
			ModTime: t0.Add(time.Duration(mod) * time.Minute), Reason: r}
	}
	// Ordered by path then time, as ListVersions returns them.
	all := []versions.Version{
		v("docs/a.txt", 10, 0, versions.Replaced),
		v("docs/a.txt", 20, 8, versions.Replaced),
		v("docs/a.txt", 30, 21, versions.Deleted),
		v("docs/b.txt", 5, 0, versions.Conflict),
		// d.txt held, at minute 12, content written at 3 that was never
		// kept; a version written at 14 and kept at 15 is not it.
		v("docs/d.txt", 15, 14, versions.Replaced),
		v("docs/sub/c.txt", 25, 1, versions.Deleted),
		v("docsx.txt", 40, 1, versions.Replaced),
	}
	name := func(vs []versions.Version) string {
		var s []string
		for _, x := range vs {
			s = append(s, fmt.Sprintf("%s@%d", x.Path, int(x.Time.Sub(t0).Minutes())))
		}
		return strings.Join(s, " ")
	}
	cases := []struct {
		name string
		path string
		at   int // minutes after t0; -1: not given
		n    int
		want string
		err  error
	}{
		{"newest of a file", "docs/a.txt", -1, 0, "docs/a.txt@30", nil},
		{"version 1 is the newest", "docs/a.txt", -1, 1, "docs/a.txt@30", nil},
		{"version 3 is the oldest", "docs/a.txt", -1, 3, "docs/a.txt@10", nil},
		{"no version 4", "docs/a.txt", -1, 4, "", ErrNoVersion},
		{"a number for a folder", "docs", -1, 1, "", ErrVersionNumber},
		{"as of a time: the first kept after it", "docs/a.txt", 15, 0, "docs/a.txt@20", nil},
		{"as of the exact time a version was kept: that one is later", "docs/a.txt", 19, 0, "docs/a.txt@20", nil},
		{"the peer wrote a new one at 8, it arrived at 10: at 9 the old one", "docs/a.txt", 9, 0, "docs/a.txt@10", nil},
		{"what it held then was never kept", "docs/d.txt", 12, 0, "", ErrNoVersion},
		{"as of after the last change: nothing", "docs/a.txt", 30, 0, "", ErrNoVersion},
		{"a folder as of a time", "docs", 7, 0, "docs/a.txt@10 docs/sub/c.txt@25", nil},
		{"a folder's newest, not a sibling sharing its prefix", "docs", -1, 0, "docs/a.txt@30 docs/b.txt@5 docs/d.txt@15 docs/sub/c.txt@25", nil},
		{"a trailing slash", "docs/sub/", -1, 0, "docs/sub/c.txt@25", nil},
		{"everything", "", 22, 0, "docs/a.txt@30 docs/sub/c.txt@25 docsx.txt@40", nil},
		{"nothing there", "other", -1, 0, "", ErrNoVersion},
	}
	for _, c := range cases {
		var at time.Time
		if c.at >= 0 {
			at = t0.Add(time.Duration(c.at) * time.Minute)
		}
		got, err := Pick(all, c.path, at, c.n)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%s: err %v, want %v", c.name, err, c.err)
			}
			continue
		}
		if err != nil || name(got) != c.want {
			t.Errorf("%s: got %q, %v; want %q", c.name, name(got), err, c.want)
		}
	}
}

func TestNumber(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)
	vs := []versions.Version{
		{Path: "a", Time: t0}, {Path: "a", Time: t0.Add(time.Second)}, {Path: "b", Time: t0},
	}
	got := Number(vs)
	want := []struct {
		p string
		n int
		t time.Time
	}{{"a", 1, t0.Add(time.Second)}, {"a", 2, t0}, {"b", 1, t0}}
	if len(got) != len(want) {
		t.Fatalf("got %d", len(got))
	}
	for i, w := range want {
		if got[i].Path != w.p || got[i].N != w.n || !got[i].Time.Equal(w.t) {
			t.Errorf("[%d] = %s #%d %v, want %s #%d %v", i, got[i].Path, got[i].N, got[i].Time, w.p, w.n, w.t)
		}
	}
}
