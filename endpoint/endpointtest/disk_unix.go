//go:build unix

package endpointtest

import (
	"io/fs"
	"syscall"
)

// diskInode is the inode number the disk reports for fi, and whether it
// reports one.
func diskInode(fi fs.FileInfo) (uint64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Ino), true
}

func mkfifo(path string) error { return syscall.Mkfifo(path, 0o644) }

// diskTotal is the size of the filesystem holding path, as statfs says.
func diskTotal(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return st.Blocks * uint64(st.Bsize), nil
}
