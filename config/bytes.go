package config

import (
	"fmt"
	"unicode/utf8"
)

// badChar is a character YAML refuses to read (a control character such as
// NUL, or bytes that are not UTF-8), with where it is in the file.
type badChar struct {
	line, col int // 1-based; col counts characters
	what      string
	start     int // byte offsets of the character in the file
	end       int
}

// yamlPrintable reports whether YAML 1.2 allows r in a document:
// tab, line breaks, printable ASCII, NEL and the non-control ranges above.
func yamlPrintable(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == 0x85:
		return true
	case r >= 0x20 && r <= 0x7e:
		return true
	case r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd, r >= 0x10000 && r <= 0x10ffff:
		return true
	}
	return false
}

// findBadChars returns every character of data that YAML would refuse, in
// file order. The YAML parser names no line for these, so they are found
// here to give the file, line and column.
func findBadChars(data []byte) []badChar {
	var bad []badChar
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			bad = append(bad, badChar{line: line, col: col, start: i, end: i + 1,
				what: fmt.Sprintf("a byte that is not UTF-8 (0x%02x)", data[i])})
			size = 1
		case !yamlPrintable(r):
			name := fmt.Sprintf("the control character U+%04X", r)
			if r == 0 {
				name = "a NUL byte"
			}
			bad = append(bad, badChar{line: line, col: col, start: i, end: i + size, what: name})
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += size
	}
	return bad
}

// sanitize returns a copy of data with each bad character replaced by '?',
// so the rest of the file can still be decoded and checked.
func sanitize(data []byte, bad []badChar) []byte {
	out := make([]byte, 0, len(data))
	last := 0
	for _, b := range bad {
		out = append(out, data[last:b.start]...)
		out = append(out, '?')
		last = b.end
	}
	return append(out, data[last:]...)
}
