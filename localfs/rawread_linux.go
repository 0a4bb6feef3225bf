//go:build linux

package localfs

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// openRead opens name in d for reading if it is a regular file, in two
// system calls: an openat with O_NOFOLLOW (a symlink fails with ELOOP and
// is never followed) and O_NONBLOCK (a FIFO swapped in does not block the
// open; it makes no difference to a regular file's reads), and an fstat
// that turns away anything but a regular file. openRegular's lstat before
// the open is not needed for that, and an *os.File would try to register
// the descriptor with the runtime's poller, a failing epoll_ctl per file:
// a first sync of many small files opens each once.
func openRead(d dir, name string) (readFile, fs.FileInfo, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Openat(int(d.file().Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err == unix.ELOOP {
		return nil, nil, fmt.Errorf("%w (%s)", errNotRegular, fs.ModeSymlink)
	}
	if err != nil {
		return nil, nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	f := &rawFile{fd: fd, name: name}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%w (%s)", errNotRegular, fi.Mode().Type())
	}
	return f, fi, nil
}

// rawFile is an open file read by descriptor. Its reads hold mu shared and
// Close holds it exclusively, so no read can reach a descriptor number that
// Close gave back to the kernel and another open reused.
type rawFile struct {
	mu   sync.RWMutex
	fd   int // -1 once closed
	name string
}

func (f *rawFile) ReadAt(b []byte, off int64) (int, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.fd < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: os.ErrClosed}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "readat", Path: f.name, Err: fmt.Errorf("negative offset")}
	}
	n := 0
	for len(b) > 0 {
		m, err := syscall.Pread(f.fd, b, off)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return n, &fs.PathError{Op: "read", Path: f.name, Err: err}
		}
		if m == 0 {
			return n, io.EOF
		}
		n += m
		b = b[m:]
		off += int64(m)
	}
	return n, nil
}

func (f *rawFile) Stat() (fs.FileInfo, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.fd < 0 {
		return nil, &fs.PathError{Op: "stat", Path: f.name, Err: os.ErrClosed}
	}
	st := &statInfo{name: f.name}
	for {
		err := syscall.Fstat(f.fd, &st.st)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "stat", Path: f.name, Err: err}
		}
		return st, nil
	}
}

func (f *rawFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fd < 0 {
		return &fs.PathError{Op: "close", Path: f.name, Err: os.ErrClosed}
	}
	err := syscall.Close(f.fd)
	f.fd = -1
	if err != nil {
		return &fs.PathError{Op: "close", Path: f.name, Err: err}
	}
	return nil
}

// statInfo is an fstat as an fs.FileInfo, as os.File.Stat makes it (Sys
// is the *syscall.Stat_t, which inode, ctime and nlink read).
type statInfo struct {
	name string
	st   syscall.Stat_t
}

func (s *statInfo) Name() string       { return s.name }
func (s *statInfo) Size() int64        { return s.st.Size }
func (s *statInfo) ModTime() time.Time { return time.Unix(s.st.Mtim.Unix()) }
func (s *statInfo) IsDir() bool        { return s.Mode().IsDir() }
func (s *statInfo) Sys() any           { return &s.st }

func (s *statInfo) Mode() fs.FileMode {
	m := fs.FileMode(s.st.Mode & 0o777)
	switch s.st.Mode & syscall.S_IFMT {
	case syscall.S_IFBLK:
		m |= fs.ModeDevice
	case syscall.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFDIR:
		m |= fs.ModeDir
	case syscall.S_IFIFO:
		m |= fs.ModeNamedPipe
	case syscall.S_IFLNK:
		m |= fs.ModeSymlink
	case syscall.S_IFSOCK:
		m |= fs.ModeSocket
	}
	if s.st.Mode&syscall.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if s.st.Mode&syscall.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if s.st.Mode&syscall.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
