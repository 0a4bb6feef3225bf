package render

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
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

// Hidden reports whether r is shown as an escape rather than itself:
// control characters (C0, DEL, C1), Unicode format characters (category Cf:
// the bidirectional controls U+202A–U+202E and U+2066–U+2069, zero-width
// characters, the byte-order mark, ...) and the line and paragraph
// separators. Each of them can move the cursor, reorder the text around it
// or hide itself, so a file name holding one could pass for another name.
func Hidden(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r < 0xa0) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

// Clean makes s safe to print on a terminal: every Hidden character and
// invalid UTF-8 is shown as an escape (\x1b, \n, \xff, \u202e), so a file
// name cannot move the cursor, recolour the screen, read backwards or hide
// text. It is the one escaping for names shown to people: the terminal
// output, the logs (see EscapeJSON) and the activity page (whose app.js
// mirrors it, checked by the page's tests) all use it.
func Clean(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || Hidden(r) {
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
		case Hidden(r) && r > 0xffff:
			fmt.Fprintf(&b, `\U%08x`, r)
		case Hidden(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// CleanLines is Clean for text of several lines, such as an error message:
// each line is cleaned and the line breaks are kept.
func CleanLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Clean(l)
	}
	return strings.Join(lines, "\n")
}

// CleanWriter passes every Write through CleanLines, for output that
// carries names inside free text (error messages).
type CleanWriter struct{ W io.Writer }

func (c CleanWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(c.W, CleanLines(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// EscapeJSON rewrites, in encoded JSON, every Hidden character that JSON
// leaves raw (format characters, line separators) as a \u escape: the text
// decodes to the same value, and a person reading the file on a terminal
// sees the escape, not its effect. Such characters only occur inside JSON
// strings, where \u escapes are valid.
func EscapeJSON(b []byte) []byte {
	i := 0
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		if r >= 0x80 && Hidden(r) {
			break
		}
		i += n
	}
	if i == len(b) {
		return b
	}
	out := append([]byte(nil), b[:i]...)
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		if r >= 0x80 && Hidden(r) && n > 1 {
			for _, u := range utf16.AppendRune(nil, r) {
				out = fmt.Appendf(out, `\u%04x`, u)
			}
		} else {
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	return out
}

// JSONWriter passes every Write through EscapeJSON; a slog JSON handler
// writes one record per Write.
type JSONWriter struct{ W io.Writer }

func (j JSONWriter) Write(p []byte) (int, error) {
	if _, err := j.W.Write(EscapeJSON(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}
