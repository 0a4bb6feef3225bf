package versions

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 14, 5, 12, 123_000_000, time.UTC)

func TestName(t *testing.T) {
	cases := []struct{ base, want string }{
		{"report.txt", "report~20261207-140512.123Z~deleted.txt"},
		{"Makefile", "Makefile~20261207-140512.123Z~deleted"},
		{".bashrc", ".bashrc~20261207-140512.123Z~deleted"},
		{"a.tar.gz", "a.tar~20261207-140512.123Z~deleted.gz"},
		{"notes~", "notes~~20261207-140512.123Z~deleted"},
		{"x~20261207-140512.123Z~deleted.txt", "x~20261207-140512.123Z~deleted~20261207-140512.123Z~deleted.txt"},
		{"trailing.", "trailing~20261207-140512.123Z~deleted."},
		{"a.b~c", "a~20261207-140512.123Z~deleted.b~c"},
	}
	for _, c := range cases {
		got := Name(c.base, t0, Deleted)
		if got != c.want {
			t.Errorf("Name(%q) = %q, want %q", c.base, got, c.want)
		}
		base, ts, r, err := ParseName(got)
		if err != nil || base != c.base || !ts.Equal(t0) || r != Deleted {
			t.Errorf("ParseName(%q) = %q, %v, %q, %v; want %q", got, base, ts, r, err, c.base)
		}
	}
}

func TestParseNameRejectsOtherNames(t *testing.T) {
	for _, name := range []string{
		"report.txt", "report~20261207-140512.123Z.txt", "r~20261207-140512.123Z~eaten.txt",
		"r~20261307-140512.123Z~deleted.txt", "~20261207-140512.123Z~deleted",
		"r~20261207-140512.123Z~deleted.txt.bak",
	} {
		if _, _, _, err := ParseName(name); !errors.Is(err, ErrNotVersion) {
			t.Errorf("ParseName(%q) = %v, want ErrNotVersion", name, err)
		}
	}
}

func FuzzNameRoundTrips(f *testing.F) {
	for _, s := range []string{"a.txt", "Makefile", ".x", "a~b", "~", "a~20261207-140512.123Z~reset", "..."} {
		f.Add(s, int64(0), uint8(0))
	}
	f.Fuzz(func(t *testing.T, base string, ms int64, ri uint8) {
		if base == "" {
			return
		}
		r := reasons[int(ri)%len(reasons)]
		ts := t0.Add(time.Duration(ms%(1<<40)) * time.Millisecond)
		name := Name(base, ts, r)
		got, gt, gr, err := ParseName(name)
		if err != nil || got != base || !gt.Equal(ts) || gr != r {
			t.Fatalf("ParseName(Name(%q)) = %q, %v, %q, %v", base, got, gt, gr, err)
		}
	})
}
