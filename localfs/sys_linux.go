//go:build linux

package localfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/ferry-sync/ferry/syncer"
)

// renameNoReplace renames with RENAME_NOREPLACE, so an existing destination
// is never replaced even if it appeared after the caller's check. Filesystems
// without support fall back to a checked rename.
func renameNoReplace(from dir, fromName string, to dir, toName string) error {
	ff, tf := from.file(), to.file()
	err := unix.Renameat2(int(ff.Fd()), fromName, int(tf.Fd()), toName, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return &os.LinkError{Op: "renameat2", Old: fromName, New: toName, Err: fs.ErrExist}
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS):
		return checkedRename(from, fromName, to, toName, ff, tf)
	}
	return &os.LinkError{Op: "renameat2", Old: fromName, New: toName, Err: err}
}

func checkedRename(from dir, fromName string, to dir, toName string, ff, tf *os.File) error {
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
func setMtimeNoFollow(d *os.File, name string, mtime int64) error {
	ts := []unix.Timespec{
		{Sec: 0, Nsec: unix.UTIME_OMIT},
		unix.NsecToTimespec(mtime),
	}
	if err := unix.UtimesNanoAt(int(d.Fd()), name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: name, Err: err}
	}
	return nil
}

func statfs(d *os.File) (syncer.Space, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(d.Fd()), &st); err != nil {
		return syncer.Space{}, fmt.Errorf("statfs: %w", err)
	}
	return syncer.Space{
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

// nlink is the hard-link count of a file, 0 when unknown.
func nlink(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 0
}

// lockFile takes an exclusive flock on f without waiting; errBusy if
// another open file holds it. Closing f releases it.
func lockFile(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return errBusy
		}
		return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
}
