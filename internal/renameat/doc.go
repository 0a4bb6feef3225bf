// Package renameat renames one directory entry to another by directory
// descriptor, refusing to replace an existing destination in the same
// system call where the kernel can (Linux renameat2 RENAME_NOREPLACE,
// macOS renameatx_np RENAME_EXCL). Where it cannot (an old kernel, a
// filesystem without support, other systems) NoReplace returns
// ErrUnsupported and the caller does its own checked rename, since only
// it knows how to look up the destination safely. localfs and the
// version store share it.
package renameat

import "errors"

// ErrUnsupported: no rename that refuses an existing destination is
// available for these directories; check and rename instead.
var ErrUnsupported = errors.New("no rename that refuses an existing destination here")
