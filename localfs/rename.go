package localfs

import (
	"errors"
	"io/fs"
	"os"
	"path"

	"github.com/ferry-sync/ferry/internal/renameat"
)

// renameNoReplace renames fromName in from to toName in to, so that an
// existing destination is never replaced even if it appeared after the
// caller's check (package renameat); where the system or filesystem has
// no such rename, it checks and renames (checkedRename).
func renameNoReplace(from dir, fromName string, to dir, toName string) error {
	err := renameat.NoReplace(from.file(), fromName, to.file(), toName)
	if errors.Is(err, renameat.ErrUnsupported) {
		return checkedRename(from, fromName, to, toName)
	}
	return err
}

// checkedRenameInFolder checks, then renames fromName in from to toName in
// to: the portable way, used where there is no renameat2 with
// RENAME_NOREPLACE (Windows, and macOS filesystems without
// RENAME_EXCL). A destination created in the instant between the check
// and the rename would be replaced. Across directories it renames through
// the folder's own os.Root by path, which keeps the rename inside the
// folder but, unlike the descriptor-based calls, would follow a directory
// swapped for a symlink in that instant.
func checkedRenameInFolder(from dir, fromName string, to dir, toName string) error {
	if _, err := to.r.Lstat(toName); err == nil {
		return &os.LinkError{Op: "rename", Old: fromName, New: toName, Err: fs.ErrExist}
	}
	if from.r == to.r {
		return from.r.Rename(fromName, toName)
	}
	if from.c == nil || from.c != to.c {
		return errors.New("unable to rename across directories of different folders")
	}
	return from.c.root.r.Rename(path.Join(from.path, fromName), path.Join(to.path, toName))
}
