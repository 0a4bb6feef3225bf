package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Size is a byte count. YAML accepts a plain number of bytes or a number
// with a unit: "1GiB", "512MiB", "64KiB" (binary), "1GB", "500MB"
// (decimal), "1T", "64K" (bare letters are binary), "0".
type Size int64

// Multi-session defaults and bounds (job keys sessions and
// multi_session_threshold).
const (
	DefaultSessions              = 1
	MaxSessions                  = 16
	DefaultMultiSessionThreshold = Size(1 << 30)
)

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1},
}

// ParseSize reads a byte count: digits, optionally with a fraction, and
// one of the units B, KiB, MiB, GiB, TiB, KB, MB, GB, TB, K, M, G, T.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || t == "" || strings.ContainsAny(t, "eEnNiI+") {
		return 0, fmt.Errorf("%q is not a size (write it like 1GiB, 512MiB or 1048576)", s)
	}
	b := v * float64(mult)
	if b < 0 || b != b {
		return 0, fmt.Errorf("%q is not a size of at least 0 bytes", s)
	}
	if b > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is too large: a size is at most 4194304TiB (4 EiB)", s)
	}
	return Size(math.Round(b)), nil
}

// String writes the size in the largest binary unit that divides it.
func (s Size) String() string {
	for i := 3; i >= 0; i-- {
		u := sizeUnits[i]
		if s != 0 && int64(s)%u.mult == 0 {
			return fmt.Sprintf("%d%s", int64(s)/u.mult, u.suffix)
		}
	}
	return strconv.FormatInt(int64(s), 10)
}
