package localfs

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferry-sync/ferry/versions"
)

// keep moves the file base of d, which is p, into the version store, if
// there is one. kept is false when the file must be removed as before:
// there is no store, or its name is too long to carry a time (logged).
func (f *FS) keep(ctx context.Context, d dir, p, base string, def versions.Reason) (kept bool, err error) {
	if f.versions == nil {
		return false, nil
	}
	_, err = f.versions.KeepAt(d.file(), base, p, versions.ReasonFrom(ctx, def))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, versions.ErrNameTooLong):
		f.log.Warn("no version kept: the name is too long to carry a time", "path", p)
		return false, nil
	}
	return false, fmt.Errorf("the version store could not take it first, so nothing was changed (fix the cause, or set the job's versions: {keep: none} to delete without keeping): %w", err)
}

// keepReplaced keeps the file base of d, which is p and is about to be
// replaced by a rename over it, in the version store, if there is one. It
// stays in place (a hard link into the store) where the filesystem allows,
// so the path is never empty; elsewhere it is moved, and a crash before
// the rename leaves it only in the store.
//
// undo is for a rename that then fails: a linked version goes again, as
// nothing was replaced (a moved one stays in the store, the one copy of
// the file, and the path stays empty until the next pass); it is never
// nil.
func (f *FS) keepReplaced(ctx context.Context, d dir, p, base string) (undo func(), err error) {
	undo = func() {}
	if f.versions == nil {
		return undo, nil
	}
	v, moved, err := f.versions.LinkAt(d.file(), base, p, versions.ReasonFrom(ctx, versions.Replaced))
	switch {
	case err == nil:
		if moved {
			return func() {
				f.log.Warn("the file to replace is only in the version store: the rename over it failed", "path", p)
			}, nil
		}
		return func() {
			if err := f.versions.Remove(v); err != nil {
				f.log.Warn("unable to remove the version of a file that was not replaced after all", "path", p, "err", err)
			}
		}, nil
	case errors.Is(err, versions.ErrNameTooLong):
		f.log.Warn("no version kept: the name is too long to carry a time", "path", p)
		return undo, nil
	}
	return undo, fmt.Errorf("the version store could not take the file it replaces first, so nothing was changed (fix the cause, or set the job's versions: {keep: none} to replace without keeping): %w", err)
}
