package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// maxRate keeps rates far from overflow: 10 Tbit/s.
const maxRate = 10e12

var rateUnits = []struct {
	suffix string
	mult   float64
}{
	// Longest suffixes first so "mbps" is not read as "bps".
	{"gbit/s", 1e9}, {"mbit/s", 1e6}, {"kbit/s", 1e3}, {"bit/s", 1},
	{"gbps", 1e9}, {"mbps", 1e6}, {"kbps", 1e3}, {"bps", 1},
}

// byteUnit matches a rate written in bytes: an uppercase B, as in 20MBps,
// 20MB/s, 500KBps, 20mBPS or 20MB. Read as bits, such a rate is 8 times
// too low, so it is refused rather than guessed.
var byteUnit = regexp.MustCompile(`^(.*?)\s*([kKmMgG]?)B(?:[pP][sS]|/[sS])?$`)

// ParseRate reads a bit rate: "20Mbps", "500Kbps", "1Gbps", "1.5Gbps",
// "20Mbit/s", "0", or a plain whole number of bits per second. Units are
// decimal. The prefix and "ps" may be in any case, but the b of "bps" must
// be a lowercase b: "20MBps" (megabytes per second) is an error that gives
// the rate in bits. Zero means uncapped.
func ParseRate(s string) (Rate, error) {
	bad := func(why string) (Rate, error) {
		return 0, fmt.Errorf("%q is not a rate%s (write it like 20Mbps, 500Kbps, 1.5Gbps, or 0 for uncapped)", s, why)
	}
	t := strings.TrimSpace(s)
	if m := byteUnit.FindStringSubmatch(t); m != nil {
		return 0, bytesHint(s, m[1], m[2])
	}
	lower := strings.ToLower(t)
	mult := 0.0
	for _, u := range rateUnits {
		if strings.HasSuffix(lower, u.suffix) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	if t == "" || strings.ContainsAny(t, "xXpP_eEiInN") {
		// Rule out hex floats, digit separators, exponents, Inf and NaN,
		// which ParseFloat would accept.
		return bad("")
	}
	if mult == 0 {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return bad(": a number without a unit must be whole bits per second")
		}
		if n < 0 {
			return bad(": it is negative")
		}
		if n > maxRate {
			return bad(": it is above 10Tbps")
		}
		return Rate(n), nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return bad("")
	}
	v := f * mult
	switch {
	case v < 0:
		return bad(": it is negative")
	case v > maxRate:
		return bad(": it is above 10Tbps")
	}
	return Rate(math.Round(v)), nil
}

// bytesHint explains a rate written in bytes per second, and gives it in
// bits when the number is one ParseRate would take.
func bytesHint(s, num, prefix string) error {
	name, mult := "bytes", 1.0
	switch strings.ToLower(prefix) {
	case "k":
		name, mult = "kilobytes", 1e3
	case "m":
		name, mult = "megabytes", 1e6
	case "g":
		name, mult = "gigabytes", 1e9
	}
	fix := "multiply by 8 and write it like 160Mbps (for 20MBps)"
	if num != "" && !strings.ContainsAny(num, "xXpP_eEiInN") {
		if f, err := strconv.ParseFloat(num, 64); err == nil && f >= 0 && f*mult*8 <= maxRate {
			fix = "write " + Rate(math.Round(f*mult*8)).String()
		}
	}
	return fmt.Errorf("%q looks like %s per second; ferry rates are in bits: %s", s, name, fix)
}

// String writes r in the largest unit that keeps it short: "20Mbps",
// "1.5Gbps", "0".
func (r Rate) String() string {
	if r == 0 {
		return "0"
	}
	for _, u := range []struct {
		name string
		mult float64
	}{{"Gbps", 1e9}, {"Mbps", 1e6}, {"Kbps", 1e3}} {
		if math.Abs(float64(r)) >= u.mult {
			return strconv.FormatFloat(float64(r)/u.mult, 'f', -1, 64) + u.name
		}
	}
	return strconv.FormatInt(int64(r), 10) + "bps"
}

// EffectiveCap is the cap a job's transfers run at: a two-way job at the
// lowest non-zero of the upload and download caps, a local-to-remote job at
// the upload cap, a remote-to-local job (and any unknown direction, as that
// is the default) at the download cap. Zero means uncapped.
func (b Bandwidth) EffectiveCap(dir Direction) Rate {
	switch dir {
	case TwoWay:
		switch {
		case b.Upload == 0:
			return b.Download
		case b.Download == 0:
			return b.Upload
		}
		return min(b.Upload, b.Download)
	case LocalToRemote:
		return b.Upload
	}
	return b.Download
}

// ForDirection is b with both caps set to EffectiveCap(dir): the caps a
// job's transfers run at, whichever way a file moves. A two-way job with
// only a download cap uploads at that cap too.
func (b Bandwidth) ForDirection(dir Direction) Bandwidth {
	c := b.EffectiveCap(dir)
	b.Upload, b.Download = c, c
	return b
}
