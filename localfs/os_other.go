//go:build !unix

package localfs

import (
	"errors"
	"io/fs"
)

// inode is 0 (unknown) outside Unix: Windows has file IDs, but only
// through an open handle (GetFileInformationByHandle), one more open per
// file per scan. With 0 the scan cache and the checks before a write rely
// on size, mtime and mode alone, and renames are found by content.
func inode(fi fs.FileInfo) uint64 { return 0 }

// isNotEmpty says a remove or rename failed because a directory has
// entries: on Windows ERROR_DIR_NOT_EMPTY, which syscall.Errno reports as
// fs.ErrExist (as it does ERROR_ALREADY_EXISTS).
func isNotEmpty(err error) bool { return errors.Is(err, fs.ErrExist) }
