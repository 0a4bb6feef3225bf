package config

import (
	"fmt"
	"strings"
)

// Error is one problem in a configuration file: where it is and what is
// wrong. Load and Parse return every problem they find, joined with
// errors.Join; errors.As finds the first.
type Error struct {
	File  string
	Line  int    // 1-based; 0 when unknown
	Field string // like jobs[0].direction; empty for a file-level problem
	Msg   string
	// err is the cause, for errors.Is, when the problem came from outside
	// the file (it could not be read).
	err error
}

// Unwrap gives the cause of a file that could not be read, nil otherwise.
func (e *Error) Unwrap() error { return e.err }

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// problem is a semantic check's finding, located by field path only; the
// decoder adds file and line.
type problem struct {
	field string
	msg   string
	// at, when set, is the field whose line the problem is reported on
	// (a missing schedule is reported where mode: schedule is).
	at string
	// near, when set, is where to report a problem whose field is not in
	// the file (a default that clashes with something written).
	near string
}

func join(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "" || strings.HasPrefix(field, "["):
		return prefix + field
	}
	return prefix + "." + field
}
