package versions

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames from/fromName to to/toName, failing with
// fs.ErrExist if toName exists.
func renameNoReplace(from *os.File, fromName string, to *os.File, toName string) error {
	err := unix.Renameat2(int(from.Fd()), fromName, int(to.Fd()), toName, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return &os.LinkError{Op: "renameat2", Old: fromName, New: toName, Err: fs.ErrExist}
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS):
		return checkedRename(from, fromName, to, toName)
	}
	return &os.LinkError{Op: "renameat2", Old: fromName, New: toName, Err: err}
}
