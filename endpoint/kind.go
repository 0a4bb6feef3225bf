package endpoint

import (
	"errors"
	"io/fs"

	"github.com/ferry-sync/ferry/tree"
)

// Kind names an error that keeps its identity across hosts: the one table
// of them. The transport carries a Kind with every error (control frames
// as its number, data sessions through wire.Code), and the far side
// rebuilds an error that errors.Is matches against the same sentinel.
// Numbers are part of the control protocol: never reuse or renumber one.
type Kind uint8

const (
	KindOther Kind = iota
	KindNotExist
	KindChanged
	KindExists
	KindNotEmpty
	KindHashMismatch
	KindNoSpace
	KindInvalidPath
	KindPermission
	// 9, 10 and 12 are the control protocol's own (protocol violation,
	// unavailable, cannot watch), which only it knows.
	KindInTheWay Kind = 11
)

var kinds = [...]struct {
	kind Kind
	err  error
}{
	{KindNotExist, fs.ErrNotExist},
	{KindChanged, ErrChanged},
	{KindExists, ErrExists},
	{KindNotEmpty, ErrNotEmpty},
	{KindHashMismatch, ErrHashMismatch},
	{KindNoSpace, ErrNoSpace},
	{KindInvalidPath, tree.ErrInvalidPath},
	{KindPermission, fs.ErrPermission},
	{KindInTheWay, ErrInTheWay},
}

// KindOf returns the Kind of the first sentinel err matches, KindOther if
// none.
func KindOf(err error) Kind {
	if err == nil {
		return KindOther
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.kind
		}
	}
	return KindOther
}

// Err returns the sentinel k stands for, nil for KindOther and unknown
// kinds.
func (k Kind) Err() error {
	for _, s := range kinds {
		if s.kind == k {
			return s.err
		}
	}
	return nil
}
