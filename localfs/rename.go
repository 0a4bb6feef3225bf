package localfs

import (
	"errors"
	"io/fs"
	"os"
	"path"
)

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
