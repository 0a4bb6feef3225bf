//go:build !linux

package localfs

import (
	"errors"
	"io/fs"
	"os"
)

// setMtimeNoFollow goes through os.Root outside Linux (see setMtimeInRoot).
func setMtimeNoFollow(d dir, name string, mtime int64) error {
	return setMtimeInRoot(d, name, mtime)
}

// syncFS: no syncfs outside Linux; files are synced one by one.
func syncFS(d *os.File) error { return errors.ErrUnsupported }

func syncfsKnown(d *os.File) bool { return false }

// Extended attributes are not used outside Linux: the marker file alone
// says a partial is ferry's.
func setOwnerXattr(f *os.File) error    { return errors.ErrUnsupported }
func hasOwnerXattr(f *os.File) bool     { return false }
func removeOwnerXattr(f *os.File) error { return nil }

func createExcl(d dir, name string) (*os.File, error) {
	return d.r.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}

// cloneFile: reflinks are only tried on Linux.
func cloneFile(dst, src *os.File) error { return errNoClone }

// openRead opens name in d for reading if it is a regular file.
func openRead(d dir, name string) (readFile, fs.FileInfo, error) {
	f, fi, err := openRegular(d.r, name)
	if err != nil {
		return nil, nil, err // not a nil *os.File in a non-nil readFile
	}
	return f, fi, nil
}
