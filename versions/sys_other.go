//go:build !unix

package versions

import (
	"errors"
	"io/fs"
	"os"
)

// Supported: this platform has no store (the moves it needs are not
// written for it); callers keep no versions here instead of failing every
// delete and overwrite.
const Supported = false

func lstatAt(dir *os.File, base string) (fs.FileInfo, error) {
	return nil, errors.ErrUnsupported
}

func renameNoReplace(from *os.File, fromName string, to *os.File, toName string) error {
	return errors.ErrUnsupported
}

func isCrossDevice(err error) bool { return false }

func fsSize(d *os.File) (int64, error) { return 0, nil }

func linkAt(from *os.File, fromName string, to *os.File, toName string) error {
	return errors.ErrUnsupported
}

func isNoLinks(err error) bool { return errors.Is(err, errors.ErrUnsupported) }
