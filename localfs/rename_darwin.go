//go:build darwin

package localfs

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames with renameatx_np(RENAME_EXCL), so an existing
// destination is never replaced even if it appeared after the caller's
// check. Filesystems without support fall back to a checked rename.
func renameNoReplace(from dir, fromName string, to dir, toName string) error {
	err := unix.RenameatxNp(int(from.file().Fd()), fromName, int(to.file().Fd()), toName, unix.RENAME_EXCL)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return &os.LinkError{Op: "renameatx_np", Old: fromName, New: toName, Err: fs.ErrExist}
	case errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS):
		return checkedRenameInFolder(from, fromName, to, toName)
	}
	return &os.LinkError{Op: "renameatx_np", Old: fromName, New: toName, Err: err}
}
