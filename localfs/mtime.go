package localfs

import (
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"time"
)

// setMtimeInRoot sets the mtime of name in the directory d and leaves the
// atime alone, through os.Root: the portable way, used where there is no
// utimensat with UTIME_OMIT (macOS, Windows). os.Root.Chtimes would follow
// a symlink (within the folder), which ferry never does when writing, so a
// symlink's own mtime is refused with errors.ErrUnsupported.
func setMtimeInRoot(d dir, name string, mtime int64) error {
	fi, err := d.r.Lstat(name)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("unable to set the mtime of symlink %q itself on %s: %w", name, runtime.GOOS, errors.ErrUnsupported)
	}
	return d.r.Chtimes(name, time.Time{}, time.Unix(0, mtime))
}
