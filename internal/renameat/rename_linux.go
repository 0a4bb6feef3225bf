package renameat

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// NoReplace renames fromName in from to toName in to, failing with an
// error wrapping fs.ErrExist if toName exists, or ErrUnsupported.
func NoReplace(from *os.File, fromName string, to *os.File, toName string) error {
	err := unix.Renameat2(int(from.Fd()), fromName, int(to.Fd()), toName, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return &os.LinkError{Op: "renameat2", Old: fromName, New: toName, Err: fs.ErrExist}
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS):
		return ErrUnsupported
	}
	return &os.LinkError{Op: "renameat2", Old: fromName, New: toName, Err: err}
}
