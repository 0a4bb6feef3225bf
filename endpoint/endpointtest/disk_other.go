//go:build !unix

package endpointtest

import (
	"errors"
	"io/fs"
)

// diskInode: outside Unix the suite has no inode to compare (localfs
// reports 0 there).
func diskInode(fi fs.FileInfo) (uint64, bool) { return 0, false }

func mkfifo(path string) error { return errors.ErrUnsupported }

func diskTotal(path string) (uint64, error) { return 0, errors.ErrUnsupported }
