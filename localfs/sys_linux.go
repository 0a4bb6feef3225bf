//go:build linux

package localfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/ferry-sync/ferry/endpoint"
	"golang.org/x/sys/unix"
)

// checkedRename is renameNoReplace where the kernel has no
// RENAME_NOREPLACE: a check, then a rename by descriptor.
func checkedRename(from dir, fromName string, to dir, toName string) error {
	ff, tf := from.file(), to.file()
	if _, err := to.r.Lstat(toName); err == nil {
		return &os.LinkError{Op: "rename", Old: fromName, New: toName, Err: fs.ErrExist}
	}
	if err := unix.Renameat(int(ff.Fd()), fromName, int(tf.Fd()), toName); err != nil {
		return &os.LinkError{Op: "renameat", Old: fromName, New: toName, Err: err}
	}
	return nil
}

// setMtimeNoFollow sets the mtime of name in the directory d, acting on a
// symlink itself rather than its target, and leaves the atime alone.
func setMtimeNoFollow(d dir, name string, mtime int64) error {
	ts := []unix.Timespec{
		{Sec: 0, Nsec: unix.UTIME_OMIT},
		unix.NsecToTimespec(mtime),
	}
	if err := unix.UtimesNanoAt(int(d.file().Fd()), name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: name, Err: err}
	}
	return nil
}

// syncFS writes back every dirty file of the filesystem holding d and
// reports any writeback error on it since the last call through d (Linux
// 5.8 and later).
//
// It is used only where syncfsKnown says the filesystem implements it:
// on FUSE, for one, syncfs may return without the daemon having synced
// anything, where an fsync of each file would have asked it to.
func syncFS(d *os.File) error {
	rc, err := d.SyscallConn()
	if err != nil {
		return err
	}
	// Control keeps the descriptor open for the call, so a Close meanwhile
	// cannot hand its number to another file.
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = unix.Syncfs(int(fd))
			if !errors.Is(serr, unix.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	switch {
	case errors.Is(serr, unix.ENOSYS):
		return errors.ErrUnsupported
	case serr != nil:
		return &os.PathError{Op: "syncfs", Path: d.Name(), Err: serr}
	}
	return nil
}

// syncfsKnown reports whether the filesystem holding d is one whose
// syncfs makes every file written before it durable, reporting writeback
// errors: the local disk filesystems.
func syncfsKnown(d *os.File) bool {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(d.Fd()), &st); err != nil {
		return false
	}
	switch int64(st.Type) {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC, unix.F2FS_SUPER_MAGIC:
		return true
	}
	return false
}

func statfs(d *os.File) (endpoint.Space, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(d.Fd()), &st); err != nil {
		return endpoint.Space{}, fmt.Errorf("statfs: %w", err)
	}
	return endpoint.Space{
		Free:  st.Bavail * uint64(st.Bsize),
		Total: st.Blocks * uint64(st.Bsize),
	}, nil
}

// ctime is the inode change time in ns: unlike mtime it cannot be set back,
// so it catches a rewrite that restored the mtime.
func ctime(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ctim.Nano()
	}
	return 0
}

// ownerXattr, set on a partial file, says ferry made it (see claim). It
// is removed before the partial is renamed into place.
const ownerXattr = "user.ferry.partial"

// setOwnerXattr tags f as ferry's partial file. It fails where the
// filesystem has no user extended attributes; the caller then falls back
// to the marker file.
func setOwnerXattr(f *os.File) error {
	return fdErr("fsetxattr", f, func(fd int) error { return unix.Fsetxattr(fd, ownerXattr, []byte{1}, 0) })
}

// hasOwnerXattr reports whether f carries ferry's tag.
func hasOwnerXattr(f *os.File) bool {
	return fdErr("fgetxattr", f, func(fd int) error {
		_, err := unix.Fgetxattr(fd, ownerXattr, nil)
		return err
	}) == nil
}

// removeOwnerXattr untags f; a file without the tag is fine.
func removeOwnerXattr(f *os.File) error {
	err := fdErr("fremovexattr", f, func(fd int) error { return unix.Fremovexattr(fd, ownerXattr) })
	if errors.Is(err, unix.ENODATA) {
		return nil
	}
	return err
}

func fdErr(op string, f *os.File, call func(fd int) error) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var cerr error
	if err := sc.Control(func(fd uintptr) {
		for {
			if cerr = call(int(fd)); !errors.Is(cerr, unix.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	if cerr != nil {
		return &os.PathError{Op: op, Path: f.Name(), Err: cerr}
	}
	return nil
}

// createExcl creates name in d for reading and writing, failing if
// anything (a symlink included) is there. It opens with openat directly:
// os.Root would also try, and fail, to add the file to the poller, which
// costs four system calls per file.
func createExcl(d dir, name string) (*os.File, error) {
	dfd := int(d.file().Fd())
	for {
		fd, err := unix.Openat(dfd, name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		switch {
		case err == nil:
			return os.NewFile(uintptr(fd), name), nil
		case errors.Is(err, unix.EINTR):
			continue
		}
		return nil, &os.PathError{Op: "openat", Path: name, Err: err}
	}
}

// cloneFile makes dst share src's blocks (FICLONE), replacing its content.
// It fails on filesystems without reflinks; the caller then copies.
func cloneFile(dst, src *os.File) error {
	sc, err := src.SyscallConn()
	if err != nil {
		return err
	}
	var cerr error
	if err := sc.Control(func(sfd uintptr) {
		cerr = fdErr("ficlone", dst, func(fd int) error { return unix.IoctlFileClone(fd, int(sfd)) })
	}); err != nil {
		return err
	}
	return cerr
}
