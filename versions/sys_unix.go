//go:build unix

package versions

import (
	"errors"
	"io/fs"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Supported reports whether this platform has a version store.
const Supported = true

// statInfo is an fstatat result seen as an fs.FileInfo.
type statInfo struct {
	name string
	st   unix.Stat_t
}

func (i statInfo) Name() string { return i.name }
func (i statInfo) Size() int64  { return i.st.Size }
func (i statInfo) Mode() fs.FileMode {
	m := fs.FileMode(i.st.Mode & 0o777)
	switch i.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	}
	return m
}
func (i statInfo) ModTime() time.Time {
	sec, nsec := i.st.Mtim.Unix()
	return time.Unix(sec, nsec)
}
func (i statInfo) IsDir() bool { return i.Mode().IsDir() }
func (i statInfo) Sys() any    { return &i.st }

func lstatAt(dir *os.File, base string) (fs.FileInfo, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(int(dir.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, &fs.PathError{Op: "fstatat", Path: base, Err: err}
	}
	return statInfo{name: base, st: st}, nil
}

func isCrossDevice(err error) bool { return errors.Is(err, unix.EXDEV) }

func fsSize(d *os.File) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(d.Fd()), &st); err != nil {
		return 0, &fs.PathError{Op: "fstatfs", Path: d.Name(), Err: err}
	}
	return int64(st.Blocks) * int64(st.Bsize), nil
}

// linkAt gives fromName in from a second name, toName in to, failing with
// fs.ErrExist if toName exists. A symlink is linked itself, not followed.
func linkAt(from *os.File, fromName string, to *os.File, toName string) error {
	err := unix.Linkat(int(from.Fd()), fromName, int(to.Fd()), toName, 0)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return &os.LinkError{Op: "linkat", Old: fromName, New: toName, Err: fs.ErrExist}
	}
	return &os.LinkError{Op: "linkat", Old: fromName, New: toName, Err: err}
}

// isNoLinks reports a filesystem that makes no hard links (FAT, some
// network and FUSE filesystems) or a file it will not link.
func isNoLinks(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EMLINK)
}
