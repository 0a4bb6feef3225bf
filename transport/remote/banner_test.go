package remote

import (
	"strings"
	"testing"
)

// TestServerBannerIsPrintable: what a server says about a refused key
// reaches the user's terminal; it must not be able to move the cursor,
// reorder the text or flood the screen.
func TestServerBannerIsPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"refused\n":               "refused",
		"two\nlines":              "two lines",
		"red \x1b[31mtext":        `red \x1b[31mtext`,
		"abc\u202edef":            `abc\u202edef`,
		"zero\u200bwidth":         `zero\u200bwidth`,
		"user \"bob\" café":       "user \"bob\" café",
		strings.Repeat("x", 3000): strings.Repeat("x", 2048) + "…",
		strings.Repeat("é", 1025): strings.Repeat("é", 1024) + "…",
		"":                        "",
	} {
		if got := printable(in, maxBanner); got != want {
			t.Errorf("printable(%.40q) = %.60q, want %.60q", in, got, want)
		}
	}
}
