package foldfs

import (
	"strings"

	"golang.org/x/text/unicode/norm"
)

// Options say what the mount folds.
type Options struct {
	// FoldCase makes names that differ only by case the same entry.
	FoldCase bool
	// Normalize makes canonically equivalent names (NFC and NFD spellings
	// of "café") the same entry.
	Normalize bool
}

// Key is the form under which opts consider two names equal.
func (o Options) Key(name string) string {
	if o.Normalize {
		name = norm.NFC.String(name)
	}
	if o.FoldCase {
		name = strings.ToLower(name)
	}
	return name
}
