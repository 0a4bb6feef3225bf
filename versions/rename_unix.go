//go:build unix

package versions

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/ferry-sync/ferry/internal/renameat"
)

// renameNoReplace renames from/fromName to to/toName, failing with
// fs.ErrExist if toName exists.
func renameNoReplace(from *os.File, fromName string, to *os.File, toName string) error {
	err := renameat.NoReplace(from, fromName, to, toName)
	if errors.Is(err, renameat.ErrUnsupported) {
		return checkedRename(from, fromName, to, toName)
	}
	return err
}

// checkedRename is renameNoReplace where the kernel has no rename that
// refuses an existing destination: a check, then a rename. The store is ferry's, and
// Keep holds the store's lock, so only a person writing in the store
// could slip a file in between.
func checkedRename(from *os.File, fromName string, to *os.File, toName string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(int(to.Fd()), toName, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		return &os.LinkError{Op: "renameat", Old: fromName, New: toName, Err: fs.ErrExist}
	}
	if err := unix.Renameat(int(from.Fd()), fromName, int(to.Fd()), toName); err != nil {
		return &os.LinkError{Op: "renameat", Old: fromName, New: toName, Err: err}
	}
	return nil
}
