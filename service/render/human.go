package render

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Rate formats bits per second: "84.0 Mbit/s", "950 kbit/s", "0 bit/s".
func Rate(bps float64) string {
	for _, u := range []struct {
		name string
		mult float64
	}{{"Gbit/s", 1e9}, {"Mbit/s", 1e6}, {"kbit/s", 1e3}} {
		if bps >= u.mult {
			v := bps / u.mult
			if v < 10 {
				return fmt.Sprintf("%.1f %s", v, u.name)
			}
			return fmt.Sprintf("%.0f %s", v, u.name)
		}
	}
	if bps < 0 {
		bps = 0
	}
	return fmt.Sprintf("%.0f bit/s", bps)
}

// Size formats a byte count in binary units: "364 MiB", "1.0 GiB", "512 B".
func Size(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(max(n, 0), 10) + " B"
	}
	v := float64(n)
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := -1
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v < 10 {
		return fmt.Sprintf("%.1f %s", v, units[i])
	}
	return fmt.Sprintf("%.0f %s", v, units[i])
}

// Duration formats a span the way a countdown reads: "12s", "4m05s", "2h03m", "3d04h".
func Duration(d time.Duration) string {
	s := int64((d + time.Second/2) / time.Second)
	switch {
	case s < 0:
		s = 0
		fallthrough
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}

// eighths are the partial blocks, from one eighth to seven.
var eighths = []rune("▏▎▍▌▋▊▉")

// ProgressBar draws done/total in width cells with eighth-cell resolution:
// "████▌░░░░░". A zero or negative total draws an empty bar.
func ProgressBar(done, total int64, width int) string {
	if width <= 0 {
		return ""
	}
	frac := 0.0
	if total > 0 {
		frac = min(max(float64(done)/float64(total), 0), 1)
	}
	n := int(frac * float64(width*8))
	var b strings.Builder
	b.WriteString(strings.Repeat("█", n/8))
	cells := n / 8
	if r := n % 8; r > 0 {
		b.WriteRune(eighths[r-1])
		cells++
	}
	b.WriteString(strings.Repeat("░", width-cells))
	return b.String()
}

// asciiBar is ProgressBar for output that is not a terminal: "[###.......]".
func asciiBar(done, total int64, width int) string {
	frac := 0.0
	if total > 0 {
		frac = min(max(float64(done)/float64(total), 0), 1)
	}
	n := int(frac * float64(width))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

var sparks = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws the last width values scaled to their maximum; no values
// draw nothing.
func Sparkline(values []float64, width int) string {
	if width <= 0 || len(values) == 0 {
		return ""
	}
	if len(values) > width {
		values = values[len(values)-width:]
	}
	top := 0.0
	for _, v := range values {
		top = max(top, v)
	}
	var b strings.Builder
	for _, v := range values {
		i := 0
		if top > 0 && v > 0 {
			i = min(int(v/top*float64(len(sparks)-1)+0.5), len(sparks)-1)
		}
		b.WriteRune(sparks[i])
	}
	return b.String()
}

// Clean makes s safe to print on a terminal: control characters and invalid
// UTF-8 are shown as escapes (\x1b, \n, \xff), so a file name cannot move the
// cursor, recolour the screen or hide text.
func Clean(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 || (r >= 0x7f && r < 0xa0) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r < 0xa0:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
