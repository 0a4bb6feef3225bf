//go:build !linux && !darwin

package localfs

import (
	"io/fs"
	"os"
)

// ctime is 0 (unknown) here: Windows' FileInfo carries no change time.
func ctime(fi fs.FileInfo) int64 { return 0 }

// nlink is 0 (unknown) here: Windows reports link counts only through an
// open handle, so a hard-linked partial file is not told apart.
func nlink(fi fs.FileInfo) uint64 { return 0 }

// lockFile does nothing here: two writers of one path are not kept apart.
func lockFile(f *os.File) error { return nil }
