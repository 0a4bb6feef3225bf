package localfs

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/tree"
)

// DefaultStalePartialAge is how long a partial file of ferry's is kept for
// a resume before a scan removes it: a transfer whose source was deleted or
// renamed never asks for its partial again.
const DefaultStalePartialAge = 24 * time.Hour

// sweep removes a stale partial file, orphan checkpoint or temporary file
// the walker found in the directory r, where tree.IsTemp matched name. It
// only acts on what is provably ferry's and older than the cutoff, never
// fails the scan, and reaches everything through r, so nothing outside the
// folder is touched.
func (s *scanner) sweep(r *os.Root, dirPath, name string, de fs.DirEntry) {
	p := name
	if dirPath != "" {
		p = dirPath + "/" + name
	}
	if isTempName(name) {
		s.sweepTemp(r, p, name, de)
		return
	}
	// The listing's type, not a stat: a symlink or directory with one of
	// these names is never ferry's to remove.
	if !de.Type().IsRegular() {
		return
	}
	ckpt := s.suffix + tree.CheckpointSuffix
	switch {
	case len(name) > len(ckpt) && strings.HasSuffix(name, ckpt):
		s.sweepCheckpoint(r, p, name, de)
	case len(name) > len(s.suffix) && strings.HasSuffix(name, s.suffix):
		s.sweepPartial(r, p, name, de)
	}
}

// isTempName reports whether name is one tempName makes: ".ferry-tmp."
// and 16 lowercase hex digits, nothing more. (A long name's partial file,
// ".ferry-tmp." and a hash followed by the partial suffix, is a partial.)
func isTempName(name string) bool {
	// The folding probe's file: ".ferry-tmp.probe-", 16 hex digits and
	// probeSuffix (see probeFolding).
	if rest, ok := strings.CutPrefix(name, probePrefix); ok {
		if h, ok := strings.CutSuffix(rest, probeSuffix); ok {
			return isTempName(tempPrefix + h)
		}
		return false
	}
	hexPart, ok := strings.CutPrefix(name, tempPrefix)
	if !ok || len(hexPart) != tempHexLen {
		return false
	}
	for _, c := range []byte(hexPart) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// sweepTemp removes a temporary file older than the cutoff: one that a
// process killed while creating a partial file, saving a checkpoint or
// replacing a symlink left behind. Nothing ever renames such a file into
// place once its creator is gone, and scans skip the name, so without the
// sweep it would stay forever. A symlink (from Symlink) is removed as a
// name, never followed; a directory is never ferry's. A regular file is
// locked first: createLocked holds its temporary file locked until the
// rename that turns it into a partial.
func (s *scanner) sweepTemp(r *os.Root, p, name string, de fs.DirEntry) {
	li, err := de.Info()
	if err != nil || li.ModTime().After(s.cutoff) {
		return
	}
	switch {
	case li.Mode().IsRegular():
		file, fi, err := openRegular(r, name)
		if err != nil {
			return
		}
		defer file.Close()
		if err := lockFile(file); err != nil {
			s.fs.log.Debug("stale temporary file is in use; it is kept", "path", p)
			return
		}
		if !os.SameFile(fi, li) || fi.ModTime().After(s.cutoff) {
			return
		}
	case li.Mode()&fs.ModeSymlink != 0:
	default:
		return
	}
	// The name must still be the file judged.
	if now, err := r.Lstat(name); err != nil || !os.SameFile(now, li) {
		return
	}
	if err := r.Remove(name); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.fs.log.Warn("unable to remove stale temporary file; remove it by hand", "folder", s.fs.root.Name(), "path", p, "err", errText(err))
		}
		return
	}
	s.fs.log.Info("removed stale temporary file", "folder", s.fs.root.Name(), "path", p, "age", s.now.Sub(li.ModTime()).Round(time.Second))
}

// sweepPartial removes a partial file older than the cutoff, and its
// checkpoint, if ferry made it and no writer holds it.
func (s *scanner) sweepPartial(r *os.Root, p, name string, de fs.DirEntry) {
	// The listing's stat rules out a fresh partial (a transfer in
	// progress, or one about to resume) without opening it.
	if li, err := de.Info(); err != nil || li.ModTime().After(s.cutoff) {
		return
	}
	file, fi, err := openRegular(r, name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errNotRegular) {
			s.fs.log.Warn("unable to check stale partial file; it is kept", "folder", s.fs.root.Name(), "path", p, "err", errText(err))
		}
		return
	}
	defer file.Close()
	ckpt := name + tree.CheckpointSuffix
	if !isRegular(r, ckpt) && !hasOwnerXattr(file) {
		return // a user's own file that happens to end in the suffix: not even locked
	}
	// Held until the removal: a writer that opens the partial meanwhile
	// cannot lock it and retries later, and one that locked it first is
	// using it, however old its mtime (Commit sets the source's).
	if err := lockFile(file); err != nil {
		if errors.Is(err, errBusy) {
			s.fs.log.Debug("stale partial file is in use; it is kept", "path", p)
		} else {
			s.fs.log.Warn("unable to lock stale partial file; it is kept", "folder", s.fs.root.Name(), "path", p, "err", errText(err))
		}
		return
	}
	// Once more under the lock: a writer may have resumed it, written and
	// aborted since the listing.
	if fi, err = file.Stat(); err != nil || fi.ModTime().After(s.cutoff) {
		return
	}
	// The name must still be the file locked and judged.
	if now, err := r.Lstat(name); err != nil || !os.SameFile(now, fi) {
		return
	}
	// The marker goes first: while the partial is still there and locked,
	// no other writer can put its own marker in its place.
	if isRegular(r, ckpt) {
		if err := r.Remove(ckpt); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.fs.log.Warn("unable to remove the checkpoint of a stale partial file; remove it by hand", "folder", s.fs.root.Name(), "path", p+tree.CheckpointSuffix, "err", errText(err))
			return
		}
	}
	if err := r.Remove(name); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.fs.log.Warn("unable to remove stale partial file; remove it by hand", "folder", s.fs.root.Name(), "path", p, "err", errText(err))
		}
		return
	}
	s.fs.log.Info("removed stale partial file", "folder", s.fs.root.Name(), "path", p, "age", s.now.Sub(fi.ModTime()).Round(time.Second))
}

// sweepCheckpoint removes a checkpoint older than the cutoff whose partial
// file is gone: nothing will ever load it.
func (s *scanner) sweepCheckpoint(r *os.Root, p, name string, de fs.DirEntry) {
	li, err := de.Info()
	if err != nil || li.ModTime().After(s.cutoff) {
		return
	}
	partial := strings.TrimSuffix(name, tree.CheckpointSuffix)
	if _, err := r.Lstat(partial); !errors.Is(err, fs.ErrNotExist) {
		return // its partial's marker or checkpoint, or unknown
	}
	// A writer creating a new partial replaces the checkpoint first: only
	// the very file judged stale goes.
	if now, err := r.Lstat(name); err != nil || !os.SameFile(now, li) || !now.ModTime().Equal(li.ModTime()) {
		return
	}
	if err := r.Remove(name); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.fs.log.Warn("unable to remove orphan checkpoint; remove it by hand", "folder", s.fs.root.Name(), "path", p, "err", errText(err))
		}
		return
	}
	s.fs.log.Info("removed orphan checkpoint", "folder", s.fs.root.Name(), "path", p, "age", s.now.Sub(li.ModTime()).Round(time.Second))
}

// isRegular reports whether name in r is a regular file, not following a
// symlink.
func isRegular(r *os.Root, name string) bool {
	fi, err := r.Lstat(name)
	return err == nil && fi.Mode().IsRegular()
}
