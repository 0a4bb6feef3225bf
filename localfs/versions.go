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
func (f *FS) keepReplaced(ctx context.Context, d dir, p, base string) error {
	if f.versions == nil {
		return nil
	}
	_, _, err := f.versions.LinkAt(d.file(), base, p, versions.ReasonFrom(ctx, versions.Replaced))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, versions.ErrNameTooLong):
		f.log.Warn("no version kept: the name is too long to carry a time", "path", p)
		return nil
	}
	return fmt.Errorf("the version store could not take the file it replaces first, so nothing was changed (fix the cause, or set the job's versions: {keep: none} to replace without keeping): %w", err)
}
