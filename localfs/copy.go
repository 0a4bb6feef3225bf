package localfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// CopyFile makes meta.Path a copy of from, a file in the same folder. See
// endpoint.Endpoint. The copy is a reflink where the filesystem shares
// blocks (FICLONE: Btrfs, XFS), else copy_file_range (which io.Copy
// between two files uses on Linux), and goes through the same partial
// file, hash check and destination re-check as CreateFile.
func (f *FS) CopyFile(ctx context.Context, from string, fromExpect, meta, expect tree.Entry) error {
	if from == meta.Path {
		return fmt.Errorf("unable to copy %q onto itself", from)
	}
	if meta.Kind != tree.File {
		return fmt.Errorf("unable to copy %q to %q: the copy must be a file, not %s", from, meta.Path, meta.Kind)
	}
	d, base, err := f.parentFor("copy", from)
	if err != nil {
		return err
	}
	defer d.close()
	cur, err := lstat(d, from, base)
	if err != nil {
		return fmt.Errorf("unable to copy %q: %w", from, err)
	}
	if !cur.Exists() || !matches(cur, fromExpect) {
		return changed("copy", from, cur, fromExpect)
	}
	src, fi, err := openRegular(d.r, base)
	if err != nil {
		return fmt.Errorf("unable to copy %q: %w", from, err)
	}
	defer src.Close()
	if fi.Size() != meta.Size {
		return fmt.Errorf("unable to copy %q: it is %d bytes, the copy needs %d: %w", from, fi.Size(), meta.Size, endpoint.ErrChanged)
	}
	w, err := f.createFile(ctx, meta, expect)
	if err != nil {
		return err
	}
	if err := w.fill(src); err != nil {
		_ = w.Abort()
		return fmt.Errorf("unable to copy %q to %q: %w", from, meta.Path, err)
	}
	return w.Commit()
}

// fill makes the partial file a copy of src from its first byte and
// checks what landed against meta.Hash, so that Commit need not read it
// again. A copy that does not match is emptied: a later transfer must not
// resume from it.
func (w *Writer) fill(src *os.File) error {
	if err := cloneFile(w.file, src); err != nil {
		if err := w.file.Truncate(0); err != nil {
			return err
		}
		if _, err := w.file.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if _, err := io.Copy(w.file, src); err != nil {
			return err
		}
	}
	h := xxhash.New()
	n, err := io.Copy(h, io.NewSectionReader(w.file, 0, w.meta.Size+1))
	if err != nil {
		return err
	}
	if n != w.meta.Size || (w.meta.Hash != 0 && h.Sum64() != w.meta.Hash) {
		_ = w.file.Truncate(0)
		return fmt.Errorf("the copy is %d bytes hashing to %016x, expected %d bytes hashing to %016x: %w",
			n, h.Sum64(), w.meta.Size, w.meta.Hash, endpoint.ErrHashMismatch)
	}
	w.mu.Lock()
	w.existing, w.high = 0, w.meta.Size
	w.res.wrote(w.high)
	w.seqOK, w.seqOff, w.digest = true, w.meta.Size, h
	w.mu.Unlock()
	return nil
}

// errNoClone: the filesystem cannot share blocks between these files.
var errNoClone = errors.New("reflink not supported")
