package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseRate(t *testing.T) {
	good := map[string]Rate{
		"0":         0,
		"20Mbps":    20_000_000,
		"20mbps":    20_000_000,
		"20MbPS":    20_000_000,
		"20mbit/s":  20_000_000,
		"20MBIT/S":  20_000_000,
		"500KBit/s": 500_000,
		"1gbps":     1_000_000_000,
		"500Kbps":   500_000,
		"500kbps":   500_000,
		"1Gbps":     1_000_000_000,
		"1.5Gbps":   1_500_000_000,
		"800bps":    800,
		"20 Mbps":   20_000_000,
		"20Mbit/s":  20_000_000,
		"1234567":   1_234_567,
		" 64000 ":   64_000,
		"0Mbps":     0,
		"0.001Kbps": 1,
		"10000Gbps": 10_000_000_000_000,
	}
	for in, want := range good {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "Mbps", "-5Mbps", "-1", "1.5", "0x10Mbps", "1_000", "1e6", "1e3Kbps", "2.5e0Mbps", "NaNMbps", "InfGbps", "20MB", "20 megabits", "10001Gbps", "99999999999999999999"} {
		if got, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) = %d, want an error", in, got)
		} else if !strings.Contains(err.Error(), "rate") {
			t.Errorf("ParseRate(%q): message %q should say what a rate looks like", in, err)
		}
	}
}

// A rate with an uppercase B is bytes per second; read as bits it would be
// 8 times too low, so it is refused with the rate in bits.
func TestParseRateRefusesBytes(t *testing.T) {
	for in, want := range map[string]string{
		"20MBps":    `"20MBps" looks like megabytes per second; ferry rates are in bits: write 160Mbps`,
		"20MB/s":    `"20MB/s" looks like megabytes per second; ferry rates are in bits: write 160Mbps`,
		"20MBPS":    `"20MBPS" looks like megabytes per second; ferry rates are in bits: write 160Mbps`,
		"20mBps":    `"20mBps" looks like megabytes per second; ferry rates are in bits: write 160Mbps`,
		"20 MB":     `"20 MB" looks like megabytes per second; ferry rates are in bits: write 160Mbps`,
		"500KBps":   `"500KBps" looks like kilobytes per second; ferry rates are in bits: write 4Mbps`,
		"500kB/s":   `"500kB/s" looks like kilobytes per second; ferry rates are in bits: write 4Mbps`,
		"1.5GBps":   `"1.5GBps" looks like gigabytes per second; ferry rates are in bits: write 12Gbps`,
		"100Bps":    `"100Bps" looks like bytes per second; ferry rates are in bits: write 800bps`,
		" 2MB/S ":   `" 2MB/S " looks like megabytes per second; ferry rates are in bits: write 16Mbps`,
		"MBps":      `"MBps" looks like megabytes per second; ferry rates are in bits: multiply by 8`,
		"-5MBps":    `"-5MBps" looks like megabytes per second; ferry rates are in bits: multiply by 8`,
		"1e3MBps":   `"1e3MBps" looks like megabytes per second; ferry rates are in bits: multiply by 8`,
		"2000GBps":  `"2000GBps" looks like gigabytes per second; ferry rates are in bits: multiply by 8`,
		"0.001KBps": `"0.001KBps" looks like kilobytes per second; ferry rates are in bits: write 8bps`,
	} {
		got, err := ParseRate(in)
		if err == nil {
			t.Errorf("ParseRate(%q) = %d, want an error", in, got)
			continue
		}
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("ParseRate(%q): %q\nwant it to start with %q", in, err, want)
		}
	}
}

func TestRateString(t *testing.T) {
	for r, want := range map[Rate]string{0: "0", 20_000_000: "20Mbps", 1_500_000_000: "1.5Gbps", 500_000: "500Kbps", 999: "999bps"} {
		if got := r.String(); got != want {
			t.Errorf("Rate(%d).String() = %q, want %q", int64(r), got, want)
		}
		if back, err := ParseRate(want); err != nil || back != r {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", want, back, err, int64(r))
		}
	}
}

func TestEffectiveCap(t *testing.T) {
	cases := []struct {
		up, down Rate
		dir      Direction
		want     Rate
	}{
		{20, 50, TwoWay, 20},
		{50, 20, TwoWay, 20},
		{0, 50, TwoWay, 50},
		{20, 0, TwoWay, 20},
		{0, 0, TwoWay, 0},
		{20, 50, LocalToRemote, 20},
		{0, 50, LocalToRemote, 0},
		{20, 50, RemoteToLocal, 50},
		{20, 0, RemoteToLocal, 0},
		{20, 50, "", 50},
	}
	for _, c := range cases {
		if got := (Bandwidth{Upload: c.up, Download: c.down}).EffectiveCap(c.dir); got != c.want {
			t.Errorf("up %d down %d %q: got %d, want %d", c.up, c.down, c.dir, got, c.want)
		}
	}
}

func TestParseLimit(t *testing.T) {
	for in, want := range map[string]Limit{
		"50%":   {IsPercent: true, Percent: 50, Set: true},
		"12.5%": {IsPercent: true, Percent: 12.5, Set: true},
		"0%":    {IsPercent: true, Set: true},
		"100%":  {IsPercent: true, Percent: 100, Set: true},
		"200":   {Count: 200, Set: true},
		// An explicit 0 means no deletions, not "not set" (issue 11.15).
		"0": {Set: true},
	} {
		got, err := ParseLimit(in)
		if err != nil || got != want {
			t.Errorf("ParseLimit(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if got.IsZero() {
			t.Errorf("ParseLimit(%q) is the unset Limit: the engine would apply its default", in)
		}
	}
	for _, in := range []string{"", "-1", "101%", "-1%", "half", "NaN%", "1.5"} {
		if got, err := ParseLimit(in); err == nil {
			t.Errorf("ParseLimit(%q) = %+v, want an error", in, got)
		}
	}
}

func TestParseRemoteURL(t *testing.T) {
	good := map[string]RemoteURL{
		"ferry://me@nas/docs":                {User: "me", Host: "nas", Port: 33001, Path: "/docs"},
		"ferry://me@nas:4000/srv/a b":        {User: "me", Host: "nas", Port: 4000, Path: "/srv/a b"},
		"ferry://me@[::1]:5/x/":              {User: "me", Host: "::1", Port: 5, Path: "/x"},
		"ferry://first.last@10.0.0.1/":       {User: "first.last", Host: "10.0.0.1", Port: 33001, Path: "/"},
		"ferry://me@nas.example.org/a%20b/c": {User: "me", Host: "nas.example.org", Port: 33001, Path: "/a b/c"},
	}
	for in, want := range good {
		got, err := ParseRemoteURL(in)
		if err != nil || !reflect.DeepEqual(*got, want) {
			t.Errorf("ParseRemoteURL(%q) = %+v, %v; want %+v", in, got, err, want)
			continue
		}
		again, err := ParseRemoteURL(got.String())
		if err != nil || !reflect.DeepEqual(*again, want) {
			t.Errorf("round trip through %q gave %+v, %v", got.String(), again, err)
		}
	}
	for _, in := range []string{
		"/local/path", "ssh://me@nas/x", "ferry://nas/x", "ferry://@nas/x", "ferry://me:pw@nas/x",
		"ferry://me@/x", "ferry://me@nas", "ferry://me@nas:0/x", "ferry://me@nas:70000/x", "ferry://me@nas:/x",
		"ferry://me@nas/x?y=1", "ferry://me@nas/x#frag", "ferry://me@nas//x", "ferry://me@nas/x/../y", "ferry://me@nas/./x",
	} {
		if got, err := ParseRemoteURL(in); err == nil {
			t.Errorf("ParseRemoteURL(%q) = %+v, want an error", in, got)
		}
	}
}

func TestForDirectionCapsBothWays(t *testing.T) {
	bw := Bandwidth{Download: 10_000_000, Policy: Low, TargetRate: 5}
	got := bw.ForDirection(TwoWay)
	if got.Upload != 10_000_000 || got.Download != 10_000_000 || got.Policy != Low || got.TargetRate != 5 {
		t.Fatalf("two-way with only a download cap: %+v, want both caps 10Mbps and the rest kept", got)
	}
	if got := (Bandwidth{Upload: 3, Download: 7}).ForDirection(LocalToRemote); got.Upload != 3 || got.Download != 3 {
		t.Fatalf("local-to-remote: %+v, want both caps 3", got)
	}
}
