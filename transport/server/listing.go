package server

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ferry-sync/ferry/tree"
	"github.com/ferry-sync/ferry/versions"
)

// maxPendingProblems bounds the reworded entries a listing holds back.
const maxPendingProblems = 4096

// listing passes a scan's entries on in a form every control message can
// carry and every client accepts: paths valid (tree.ValidPath), strings
// UTF-8, and strictly increasing in tree.Compare order.
//
// An entry whose name is not UTF-8 is turned into a Problem entry with the
// bad bytes replaced by U+FFFD: it is only reported, never acted on. The
// replacement moves it in the order, so it is held back and sent just
// before the first entry that sorts after it; one that would land on or
// before what was already sent, or is still not a valid path, is dropped
// and logged here instead. Dropping is safe: such a name cannot exist
// validly on the client either.
type listing struct {
	emit    func(tree.Entry) error
	log     *slog.Logger
	prev    string
	pending []tree.Entry // sorted by tree.Compare, no duplicates
}

func (l *listing) add(e tree.Entry) error {
	if !utf8.ValidString(e.Path) || !utf8.ValidString(e.Target) || !utf8.ValidString(e.Problem) {
		l.hold(sanitize(e))
		return nil
	}
	if err := tree.ValidPath(e.Path); err != nil {
		// A scan reports names it cannot sync (a backslash, say) as
		// problems; the client would take them for a broken server.
		l.drop(e, "not a valid ferry path")
		return nil
	}
	if versions.IsStorePath(e.Path) {
		return nil // the version store never reaches a peer
	}
	if err := l.flush(e.Path); err != nil {
		return err
	}
	if l.prev != "" && tree.Compare(l.prev, e.Path) >= 0 {
		// Only a scan out of order gets here. Leaving the entry out
		// would tell the client it is gone.
		return fmt.Errorf("unable to list %q: the scan gave it after %q, out of order", e.Path, l.prev)
	}
	l.prev = e.Path
	return l.emit(e)
}

// finish sends what is still held back.
func (l *listing) finish() error { return l.flush("") }

// sanitize makes e sendable. Its name is not what is on disk any more, so
// it becomes a Problem entry even if the scan could read it.
func sanitize(e tree.Entry) tree.Entry {
	if e.Problem == "" {
		if !utf8.ValidString(e.Path) {
			e.Problem = "name cannot be synced: it is not valid UTF-8; rename it"
		} else {
			e.Problem = "link target is not valid UTF-8; ferry cannot send it"
		}
	}
	e.Path = strings.ToValidUTF8(e.Path, "\uFFFD")
	e.Target = strings.ToValidUTF8(e.Target, "\uFFFD")
	e.Problem = strings.ToValidUTF8(e.Problem, "\uFFFD")
	e.Hash = 0
	return e
}

func (l *listing) hold(e tree.Entry) {
	if tree.ValidPath(e.Path) != nil {
		l.drop(e, "not a valid ferry path even with its bad bytes replaced")
		return
	}
	i, found := slices.BinarySearchFunc(l.pending, e.Path, func(p tree.Entry, path string) int { return tree.Compare(p.Path, path) })
	if found {
		l.drop(e, "another bad name reads the same once its bad bytes are replaced")
		return
	}
	if len(l.pending) >= maxPendingProblems {
		l.drop(e, "too many bad names in one listing")
		return
	}
	l.pending = slices.Insert(l.pending, i, e)
}

// flush sends the held entries that sort before next ("" for all); one
// equal to next gives way to it.
func (l *listing) flush(next string) error {
	n := 0
	for _, p := range l.pending {
		if next != "" && tree.Compare(p.Path, next) >= 0 {
			break
		}
		n++
		if l.prev != "" && tree.Compare(l.prev, p.Path) >= 0 {
			l.drop(p, "it sorts before entries already sent once its bad bytes are replaced")
			continue
		}
		l.prev = p.Path
		if err := l.emit(p); err != nil {
			return err
		}
	}
	l.pending = l.pending[n:]
	if len(l.pending) > 0 && next != "" && l.pending[0].Path == next {
		l.drop(l.pending[0], "a real entry has the name its bad bytes were replaced to")
		l.pending = l.pending[1:]
	}
	return nil
}

func (l *listing) drop(e tree.Entry, why string) {
	l.log.Warn("entry left out of a listing; it is neither reported to nor synced with the client",
		"path", strings.ToValidUTF8(e.Path, "\uFFFD"), "problem", e.Problem, "why", why)
}
