//go:build darwin

package localfs

import (
	"io/fs"
	"syscall"
)

// ctime is the inode change time in ns: unlike mtime it cannot be set back,
// so it catches a rewrite that restored the mtime.
func ctime(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ctimespec.Nano()
	}
	return 0
}
