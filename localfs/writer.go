package localfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sync"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// Writer receives one file into NAME+PartialSuffix (or a short name for a
// long NAME, see partialName) and renames it into place on Commit. Besides endpoint.FileWriter it lets a transfer resume: a partial
// left by an earlier attempt is kept (ExistingSize), can be read back
// (ReadAt), and a checkpoint can be stored beside it.
type Writer struct {
	fs       *FS
	ctx      context.Context // CreateFile's: bounds Commit's wait for the directory sync
	d        dir
	path     string // final path, relative to the folder
	base     string // final base name
	partial  string // partial base name
	meta     tree.Entry
	expect   tree.Entry
	file     *os.File
	existing int64
	res      *reservation // free space promised to this writer; released at Commit or Abort
	marker   fs.FileInfo  // the checkpoint file as this writer last left it (removed at Commit if still so)
	tagged   bool         // the partial carries ownerXattr, removed after the rename
	renamed  bool         // Commit renamed the partial into place
	dated    bool         // Commit gave the partial the source's mtime; put back to now if the partial stays
	// whole: a small new file written under a temporary name (partial is
	// that name) and renamed into place, with no lock, tag or marker:
	// nothing resumes it, so Abort and a failed Commit remove it.
	whole bool

	// mu guards the streaming hash and the done flag: WriteAt may be
	// called concurrently for disjoint ranges.
	mu     sync.Mutex
	seqOK  bool // every byte so far arrived in order from offset 0
	seqOff int64
	digest *xxhash.Digest
	high   int64 // highest byte written, past existing
	done   bool
}

var _ endpoint.FileWriter = (*Writer)(nil)

// CreateFile starts receiving meta.Path. See endpoint.Endpoint.
//
// A Mode of 0 in meta leaves the new file at 0644 and an Mtime of 0 leaves
// it at the commit time, so that a caller that does not know them does not
// create an unreadable file dated 1970.
func (f *FS) CreateFile(ctx context.Context, meta tree.Entry, expect tree.Entry) (endpoint.FileWriter, error) {
	return f.createFile(ctx, meta, expect)
}

func (f *FS) createFile(ctx context.Context, meta tree.Entry, expect tree.Entry) (*Writer, error) {
	p := meta.Path
	if meta.Size < 0 {
		return nil, fmt.Errorf("unable to create %q: negative size %d", p, meta.Size)
	}
	if meta.Kind != tree.File && meta.Kind != tree.Absent {
		return nil, fmt.Errorf("unable to create %q: CreateFile writes files, not %s", p, meta.Kind)
	}
	d, base, err := f.parentFor("create", p)
	if err != nil {
		return nil, err
	}
	w, err := f.openPartial(ctx, d, p, base, meta, expect)
	if err != nil {
		d.close()
		return nil, err
	}
	return w, nil
}

// partialName is the name of base's partial file: base+suffix, or, when
// that and its checkpoint suffix would not fit in a name, a short one
// derived from base (scans skip .ferry-tmp.* names too). Being derived, it
// is found again to resume; the checkpoint's resume key and Commit's hash
// check keep two names with the same 64-bit hash from mixing content.
func partialName(base, suffix string) string {
	if len(base)+len(suffix)+len(tree.CheckpointSuffix) <= tree.MaxNameLen {
		return base + suffix
	}
	return fmt.Sprintf(".ferry-tmp.%016x%s", xxhash.Sum64String(base), suffix)
}

// errBusy means another writer holds the lock on a partial file.
var errBusy = errors.New("partial file is locked by another writer")

// openExisting opens the partial file lstat saw as pi and locks it. The
// lock (flock, exclusive) is what keeps two writers of one path, in this
// process or another ferry, out of the same partial: without it their bytes
// interleave. It is held until the writer commits or aborts.
func openExisting(d dir, partial string, pi fs.FileInfo) (*os.File, error) {
	file, err := d.r.OpenFile(partial, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		// Gone since lstat: the writer that held it has renamed it into
		// place (it keeps its tag until then).
		return nil, errBusy
	}
	if err != nil {
		return nil, err
	}
	if err := lockFile(file); err != nil {
		file.Close()
		return nil, err
	}
	// os.Root follows a symlink that stays inside the folder, and a writer
	// that held the lock may have renamed the partial into place before
	// letting go: the locked file must still be the partial lstat saw.
	fi, err := file.Stat()
	if err == nil && (!os.SameFile(fi, pi) || !fi.Mode().IsRegular()) {
		err = errBusy
	}
	if err == nil {
		var now fs.FileInfo
		now, err = d.r.Lstat(partial)
		if errors.Is(err, fs.ErrNotExist) || err == nil && !os.SameFile(now, fi) {
			err = errBusy
		}
	}
	if err != nil {
		file.Close()
		return nil, err
	}
	return file, nil
}

// createLocked creates a new partial file that is locked before anyone can
// see it: it is made and locked under a temporary name and renamed into
// place without replacing anything. Another writer that created the
// partial meanwhile wins; this one gets errBusy. tagged reports whether
// the file carries ownerXattr.
//
// Before the rename the file is marked as ferry's, so that a partial
// without a mark is never ferry's: with the ownerXattr tag on the file
// itself (one system call, nothing else on disk) or, where the filesystem
// has no user extended attributes, with an empty checkpoint file beside it.
// A stale checkpoint already there (it describes nothing) is replaced by
// an empty one either way, so it is never loaded for the new partial. A
// crash before the rename leaves at most a marker, which the next attempt
// replaces. Two writers racing to create the partial may leave the loser's
// empty marker behind after the winner commits: it is skipped by scans like
// every checkpoint, and replaced by the next transfer of the path.
func (f *FS) createLocked(d dir, partial string) (file *os.File, marker fs.FileInfo, tagged bool, err error) {
	tmp := tempName()
	file, err = createExcl(d, tmp)
	if err != nil {
		return nil, nil, false, err
	}
	err = lockFile(file)
	if err == nil && !f.noXattr {
		tagged = setOwnerXattr(file) == nil
	}
	ckpt := partial + tree.CheckpointSuffix
	if err == nil {
		_, cerr := d.r.Lstat(ckpt)
		if !tagged || !errors.Is(cerr, fs.ErrNotExist) {
			// Another writer's partial appeared: do not touch its marker.
			if _, lerr := d.r.Lstat(partial); lerr == nil {
				err = errBusy
			}
			if err == nil {
				marker, err = replaceFile(d, ckpt, nil)
			}
		}
	}
	if err == nil {
		err = renameNoReplace(d, tmp, d, partial)
		if errors.Is(err, fs.ErrExist) {
			err = errBusy
		}
	}
	if err != nil {
		file.Close()
		d.r.Remove(tmp)
		return nil, nil, false, err
	}
	return file, marker, tagged, nil
}

// replaceFile atomically replaces name in d with data and returns what
// lstat then finds there.
func replaceFile(d dir, name string, data []byte) (fs.FileInfo, error) {
	tmp := tempName()
	if err := d.r.WriteFile(tmp, data, 0o600); err != nil {
		return nil, err
	}
	if err := d.r.Rename(tmp, name); err != nil {
		d.r.Remove(tmp)
		return nil, err
	}
	return d.r.Lstat(name)
}

// hasMarker reports whether ferry's marker (the checkpoint file) is beside
// a partial.
func hasMarker(d dir, partial string) bool {
	fi, err := d.r.Lstat(partial + tree.CheckpointSuffix)
	return err == nil && fi.Mode().IsRegular()
}

// errForeign means a partial file was not made by ferry.
var errForeign = errors.New("not written by ferry")

// checkFerrys reports whether the partial lstat saw as pi was made by
// ferry (nil): its marker is beside it, or it is a regular file carrying
// ownerXattr. Only a regular file is opened to look, never followed or
// blocked on. A partial that changes meanwhile, or an untagged one that
// another program holds locked (an older ferry took the tag off for an
// instant before the rename), is errBusy; anything else is errForeign.
func checkFerrys(d dir, partial string, pi fs.FileInfo) error {
	if hasMarker(d, partial) {
		return nil
	}
	if !pi.Mode().IsRegular() {
		return errForeign
	}
	file, fi, err := openRegular(d.r, partial)
	if errors.Is(err, fs.ErrNotExist) {
		return errBusy
	}
	if err != nil {
		return errForeign
	}
	defer file.Close()
	if !os.SameFile(fi, pi) {
		return errBusy
	}
	return ownerOf(d, partial, file, fi)
}

// ownerOf judges the untagged-looking partial file, opened as file (fi)
// from the name partial: ferry's if tagged, busy if another writer holds
// it locked, or no longer at partial (a writer committed it, renaming it
// away, and let go of its lock between the open and the lock); anything
// else is a user's own file.
func ownerOf(d dir, partial string, file *os.File, fi fs.FileInfo) error {
	switch {
	case hasOwnerXattr(file):
		return nil
	case errors.Is(lockFile(file), errBusy):
		return errBusy
	}
	// Untagged and unlocked. A writer that held this file may have
	// renamed it into place, untagged it and let go since it was opened
	// here: only if the name is still this file is it someone else's.
	if now, err := d.r.Lstat(partial); err != nil || !os.SameFile(now, fi) {
		return errBusy
	}
	return errForeign
}

func (f *FS) openPartial(ctx context.Context, d dir, p, base string, meta, expect tree.Entry) (*Writer, error) {
	if meta.Size <= f.wholeMax && !expect.Exists() {
		// A small new file: the rename at Commit cannot replace anything
		// (RENAME_NOREPLACE, or check-then-rename elsewhere) and is the
		// check. An lstat here as well, to spare sending a doomed file,
		// was one system call in thirty per file of a first sync.
		return f.openWhole(ctx, d, p, base, meta, expect)
	}
	partial := partialName(base, f.partialSuffix)
	cur, err := lstat(d, p, base)
	if err != nil {
		return nil, fmt.Errorf("unable to create %q: %w", p, err)
	}
	// Checked here as well as at Commit so a doomed transfer is not sent.
	if !matches(cur, expect) {
		return nil, changed("create", p, cur, expect)
	}
	if cur.Kind == tree.Dir {
		return nil, fmt.Errorf("unable to create %q: a directory is in the way; remove it first: %w", p, endpoint.ErrChanged)
	}

	if meta.Size <= f.wholeMax {
		return f.openWhole(ctx, d, p, base, meta, expect)
	}

	// Only a partial ferry made (tagged, or its marker, the checkpoint
	// file, beside it) is resumed or replaced: a user's own NAME.partial is
	// left alone.
	foreign := func() error {
		return &endpoint.InTheWayError{Path: p, Name: path.Join(path.Dir(p), partial)}
	}
	var existing int64
	reuse := false
	pi, err := d.r.Lstat(partial)
	var owner error
	if err == nil {
		owner = checkFerrys(d, partial, pi)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("unable to create %q: %w", p, err)
	case errors.Is(owner, errBusy):
		return nil, busy(p, base)
	case owner != nil:
		return nil, foreign()
	case pi.Mode().IsRegular() && nlink(pi) <= 1:
		existing, reuse = pi.Size(), true
		if existing > meta.Size {
			existing = 0 // truncated once locked
		}
	default:
		// Ferry's name, but not a plain file any more (a link, a
		// directory, a hard link): writing into it could change
		// something else. Only the name goes, never what it points to.
		if err := d.r.Remove(partial); err != nil {
			return nil, fmt.Errorf("unable to clear stale partial file %s for %q (remove it, and it will be retried): %w", partial, p, err)
		}
	}

	// The bytes of an existing partial are on disk already: only the rest
	// is reserved, and held until Commit or Abort.
	var res *reservation
	if need := meta.Size - existing; need > 0 {
		free, r, err := f.space.reserve(need, func() (endpoint.Space, error) { return f.FreeSpace(ctx) })
		if err != nil {
			return nil, fmt.Errorf("unable to create %q: %w", p, err)
		}
		if r == nil {
			return nil, fmt.Errorf("unable to create %q: it needs %d more bytes but only %d are free (after what transfers in progress still need); free some space and it will be retried: %w",
				p, need, free, endpoint.ErrNoSpace)
		}
		res = r
	}

	var file *os.File
	var marker fs.FileInfo
	var tagged bool
	if reuse {
		file, err = openExisting(d, partial, pi)
		if err == nil {
			// Again under the lock: the mark may have gone with a
			// writer that just committed.
			tagged = hasOwnerXattr(file)
			marker, err = d.r.Lstat(partial + tree.CheckpointSuffix)
			if errors.Is(err, fs.ErrNotExist) {
				marker, err = nil, nil
				if !tagged {
					err = errBusy
				}
			}
			if err == nil && existing == 0 && pi.Size() > 0 {
				err = file.Truncate(0)
			}
			if err == nil {
				// Asked for again: its age, which scans measure to
				// remove partials nothing resumes, starts over even
				// if this attempt writes nothing.
				if terr := setMtimeNoFollow(d, partial, f.now().UnixNano()); terr != nil && !errors.Is(terr, errors.ErrUnsupported) {
					f.log.Debug("unable to date a resumed partial file", "path", p, "err", terr)
				}
			}
			if err != nil {
				file.Close()
			}
		}
	} else {
		file, marker, tagged, err = f.createLocked(d, partial)
	}
	if err != nil {
		f.space.release(res)
	}
	if errors.Is(err, errBusy) {
		return nil, busy(p, base)
	}
	if err != nil {
		return nil, fmt.Errorf("unable to open partial file for %q: %w", p, err)
	}
	return &Writer{
		fs: f, ctx: ctx, d: d, path: p, base: base, partial: partial,
		meta: meta, expect: expect, file: file, existing: existing, marker: marker, tagged: tagged, res: res,
		seqOK: existing == 0, digest: xxhash.New(),
	}, nil
}

// wholeMax is the size up to which a file is received whole: under a
// temporary name (.ferry-tmp.*, which scans skip and remove once stale)
// that is renamed into place at Commit, without the partial file's name,
// lock, tag and marker. Resending a file this small costs less than the
// six system calls that make it resumable, which were a fifth of the CPU
// of a first sync of many small files. A partial an earlier attempt left
// for such a file is not resumed; it goes with the scan that finds it
// stale.
const wholeMax = 64 << 10 // FS.wholeMax's value outside tests

// openWhole starts receiving a file of at most wholeMax bytes.
func (f *FS) openWhole(ctx context.Context, d dir, p, base string, meta, expect tree.Entry) (*Writer, error) {
	var res *reservation
	if meta.Size > 0 {
		free, r, err := f.space.reserve(meta.Size, func() (endpoint.Space, error) { return f.FreeSpace(ctx) })
		if err != nil {
			return nil, fmt.Errorf("unable to create %q: %w", p, err)
		}
		if r == nil {
			return nil, fmt.Errorf("unable to create %q: it needs %d more bytes but only %d are free (after what transfers in progress still need); free some space and it will be retried: %w",
				p, meta.Size, free, endpoint.ErrNoSpace)
		}
		res = r
	}
	tmp := tempName()
	file, err := createExcl(d, tmp)
	if err != nil {
		f.space.release(res)
		return nil, fmt.Errorf("unable to create %q: %w", p, err)
	}
	return &Writer{
		fs: f, ctx: ctx, d: d, path: p, base: base, partial: tmp, whole: true,
		meta: meta, expect: expect, file: file, res: res,
		seqOK: true, digest: xxhash.New(),
	}, nil
}

func busy(p, base string) error {
	return fmt.Errorf("unable to create %q: another transfer of %s is in progress; it will be retried on a later pass: %w",
		p, base, endpoint.ErrChanged)
}

// ExistingSize is the size of the partial file found when the writer was
// created: bytes an interrupted transfer already wrote.
func (w *Writer) ExistingSize() int64 { return w.existing }

// WriteAt writes into the partial file. Writing past meta.Size is refused.
func (w *Writer) WriteAt(b []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(b)) > w.meta.Size {
		return 0, fmt.Errorf("unable to write %q: range %d+%d is outside its size %d", w.path, off, len(b), w.meta.Size)
	}
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return 0, fmt.Errorf("unable to write %q: %w", w.path, os.ErrClosed)
	}
	if end := off + int64(len(b)) - w.existing; end > w.high {
		w.high = end
		w.res.wrote(end)
	}
	if w.seqOK && off == w.seqOff {
		w.digest.Write(b)
		w.seqOff += int64(len(b))
	} else {
		w.seqOK = false
	}
	w.mu.Unlock()
	n, err := w.file.WriteAt(b, off)
	if err != nil {
		w.mu.Lock()
		w.seqOK = false
		w.mu.Unlock()
		return n, fmt.Errorf("unable to write %q: %w", w.path, err)
	}
	return n, nil
}

// ReadAt reads back the partial file.
func (w *Writer) ReadAt(b []byte, off int64) (int, error) {
	return w.file.ReadAt(b, off)
}

func (w *Writer) checkpointName() string { return w.partial + tree.CheckpointSuffix }

// SaveCheckpoint durably replaces the checkpoint stored beside the partial
// file. The partial file is synced first so that a checkpoint never claims
// bytes a crash could lose.
func (w *Writer) SaveCheckpoint(data []byte) error {
	if err := w.file.Sync(); err != nil {
		return fmt.Errorf("unable to sync partial file of %q: %w", w.path, err)
	}
	fi, err := replaceFile(w.d, w.checkpointName(), data)
	if err != nil {
		return fmt.Errorf("unable to save checkpoint of %q: %w", w.path, err)
	}
	w.mu.Lock()
	w.marker = fi
	w.mu.Unlock()
	return nil
}

// LoadCheckpoint returns the saved checkpoint, or nil and no error if there
// is none. The empty checkpoint file CreateFile puts beside a new partial
// (ferry's marker) is none.
func (w *Writer) LoadCheckpoint() ([]byte, error) {
	data, err := w.d.r.ReadFile(w.checkpointName())
	if errors.Is(err, fs.ErrNotExist) || err == nil && len(data) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("unable to load checkpoint of %q: %w", w.path, err)
	}
	return data, nil
}

func (w *Writer) finish() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return false
	}
	w.done = true
	return true
}

// Abort closes the writer and keeps the partial file for a later resume.
func (w *Writer) Abort() error {
	if !w.finish() {
		return nil
	}
	defer w.d.close()
	defer w.fs.space.release(w.res)
	if w.whole {
		w.removeWhole()
	}
	if err := w.file.Close(); err != nil {
		return fmt.Errorf("unable to close partial file of %q: %w", w.path, err)
	}
	return nil
}

// removeWhole removes the temporary file of a whole writer that will not
// be put in place: no later attempt would find it.
func (w *Writer) removeWhole() {
	if err := w.d.r.Remove(w.partial); err != nil && !errors.Is(err, fs.ErrNotExist) {
		w.fs.log.Debug("unable to remove a temporary file; a scan removes it once stale", "path", w.path, "temp", w.partial, "err", err)
	}
}

// Commit puts the file in place. See endpoint.FileWriter.
func (w *Writer) Commit() error {
	if !w.finish() {
		return fmt.Errorf("unable to commit %q: %w", w.path, os.ErrClosed)
	}
	defer w.d.close()
	defer w.fs.space.release(w.res)
	df := w.d.file()
	// The partial stays open, and so locked, until it has been renamed
	// into place: a writer waiting for the lock must not get a file that
	// is about to become the destination.
	//
	// Until the rename the partial keeps the mark that says it is
	// ferry's (the tag, or the checkpoint file beside it): a process
	// killed at any step leaves either a partial the next attempt resumes
	// or replaces, or the finished file in place. See CommitStep.
	err := w.prepare(df)
	if err == nil {
		err = w.install(df)
	}
	if err != nil && w.whole && !w.renamed {
		w.removeWhole()
	} else if err != nil && w.dated && !w.renamed {
		// Scans take a partial's mtime for its last write: with the
		// source's, a complete partial kept for a retry could look stale
		// and be removed.
		if terr := setMtimeNoFollow(w.d, w.partial, w.fs.now().UnixNano()); terr != nil {
			w.fs.log.Warn("unable to date a kept partial file; a scan may remove it as stale", "path", w.path, "partial", w.partial, "err", terr)
		}
	}
	if err == nil {
		w.learn()
	}
	if cerr := w.file.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("unable to close %q: %w", w.path, cerr)
	}
	return err
}

// learn hands the scan cache the file Commit put in place, so that the
// next scan does not read it: its hash is that of the bytes written (the
// expected hash, checked in prepare, or for a file written in order from
// its first byte with no hash expected, the digest of what was written),
// its lstat that of the file as written, taken from the open descriptor
// (the very inode, whatever its name is by now). The file must still have
// the size and the mtime Commit gave it: a write since moves the mtime, so
// a file changed after it landed is not trusted, and one changed later
// fails the scan's check (inode, size, mtime, mode) as a scanned file
// does. A file with no mtime to give (meta.Mtime 0) has the commit time,
// which a write in the same clock tick would not move: it is not learned.
// Nor is a file large enough for a chunk list when the FS keeps lists:
// the next scan reads it for its list, as a scan with HashLater does.
func (w *Writer) learn() {
	if w.fs.cache == nil || w.meta.Mtime == 0 || w.fs.chunks != nil && w.meta.Size >= chunk.MinFileSize {
		return
	}
	sum := w.meta.Hash
	if sum == 0 {
		w.mu.Lock()
		whole := w.existing == 0 && w.seqOK && w.seqOff == w.meta.Size
		if whole {
			sum = w.digest.Sum64()
		}
		w.mu.Unlock()
		if !whole {
			return
		}
	}
	fi, err := w.file.Stat()
	if err != nil {
		return
	}
	e := entryOf(w.path, fi)
	if e.Kind != tree.File || e.Problem != "" || e.Size != w.meta.Size || e.Mtime != w.meta.Mtime {
		return
	}
	e.Hash = sum
	w.fs.cache.Learn(e)
}

// prepare brings the partial file to its final content and metadata.
func (w *Writer) prepare(df *os.File) error {
	// A file written in order from empty to its end is its size already.
	if w.existing != 0 || !w.seqOK || w.seqOff != w.meta.Size {
		if err := w.file.Truncate(w.meta.Size); err != nil {
			return fmt.Errorf("unable to truncate partial file of %q: %w", w.path, err)
		}
	}
	w.reached(CommitSized)
	if w.meta.Hash != 0 {
		var sum uint64
		if w.seqOK && w.seqOff == w.meta.Size {
			sum = w.digest.Sum64()
		} else {
			h := xxhash.New()
			if _, err := io.Copy(h, io.NewSectionReader(w.file, 0, w.meta.Size)); err != nil {
				return fmt.Errorf("unable to read back partial file of %q: %w", w.path, err)
			}
			sum = h.Sum64()
		}
		if sum != w.meta.Hash {
			return fmt.Errorf("unable to commit %q: received content hashes to %016x, expected %016x; the partial file is kept and the transfer will be retried: %w",
				w.path, sum, w.meta.Hash, endpoint.ErrHashMismatch)
		}
	}
	w.reached(CommitVerified)
	mode := w.meta.Mode.Perm()
	if mode == 0 {
		mode = 0o644
	}
	// Mode and mtime go on before the rename so the file appears complete.
	if err := w.file.Chmod(mode); err != nil {
		return fmt.Errorf("unable to set mode of %q: %w", w.path, err)
	}
	w.reached(CommitModeSet)
	if w.meta.Mtime != 0 {
		if err := setMtimeNoFollow(w.d, w.partial, w.meta.Mtime); err != nil {
			return fmt.Errorf("unable to set mtime of %q: %w", w.path, err)
		}
		w.dated = true
	}
	w.reached(CommitDated)
	// Many commits at once share one sync (fileSyncer): the file is in
	// place only once its content is on disk, whichever way it got there.
	if err := w.fs.dirs.files.wait(w.ctx, w.fs.dirs.stop, w.fs.dirs.files.item(w.file)); err != nil {
		return fmt.Errorf("unable to sync %q: %w", w.path, err)
	}
	w.reached(CommitSynced)
	return nil
}

// install re-checks the destination and renames the partial file over it.
func (w *Writer) install(df *os.File) error {
	if !w.expect.Exists() {
		// RENAME_NOREPLACE is the check: whatever is there stays.
		if err := renameNoReplace(w.d, w.partial, w.d, w.base); err != nil {
			if errors.Is(err, fs.ErrExist) {
				if cur, lerr := lstat(w.d, w.path, w.base); lerr == nil && cur.Exists() {
					return changed("commit", w.path, cur, w.expect)
				}
				return fmt.Errorf("unable to commit %q: something appeared there meanwhile: %w", w.path, endpoint.ErrChanged)
			}
			return fmt.Errorf("unable to commit %q: %w", w.path, err)
		}
		w.renamed = true
		return w.finishInstall()
	}
	cur, err := lstat(w.d, w.path, w.base)
	if err != nil {
		return fmt.Errorf("unable to commit %q: %w", w.path, err)
	}
	if !matches(cur, w.expect) {
		return changed("commit", w.path, cur, w.expect)
	}
	switch cur.Kind {
	case tree.Dir:
		return fmt.Errorf("unable to commit %q: a directory is in the way; remove it first: %w", w.path, endpoint.ErrChanged)
	default:
		// Replacing a file or a symlink: rename acts on the name, never
		// on a link's target.
		undo, err := w.fs.keepReplaced(w.ctx, w.d, w.path, w.base)
		if err != nil {
			return fmt.Errorf("unable to commit %q: %w", w.path, err)
		}
		if err := w.d.r.Rename(w.partial, w.base); err != nil {
			undo()
			return fmt.Errorf("unable to commit %q: %w", w.path, err)
		}
		w.renamed = true
	}
	return w.finishInstall()
}

// finishInstall takes the tag off the file now in place, makes the rename
// durable and removes the marker.
func (w *Writer) finishInstall() error {
	w.reached(CommitRenamed)
	if w.fs.afterRename != nil {
		w.fs.afterRename(w.path)
	}
	// The tag comes off only now: until the rename it was the proof that
	// the partial is ferry's, and a partial without it (nor a checkpoint
	// beside it) would be taken for the user's own file for good. A crash
	// from here on may leave the tag on the finished file, where nothing
	// reads it: ferry looks for it only on partial names and never gives
	// a synced file one (scans skip them). The file is open, so the tag
	// goes from this very inode, whatever its name is by now.
	if w.tagged {
		if err := removeOwnerXattr(w.file); err != nil {
			w.fs.log.Debug("unable to clear ferry's attribute on a committed file", "path", w.path, "err", err)
		}
	}
	w.reached(CommitUntagged)
	if err := w.d.h.ds.wait(w.ctx, w.d.c.stop); err != nil {
		return fmt.Errorf("unable to sync directory of %q (the file is in place but may not survive a crash): %w", w.path, err)
	}
	w.reached(CommitDirSynced)
	// The marker goes with the partial, unless another writer has since
	// replaced it with its own. One left by a crash is replaced by the
	// next transfer of the path, or removed by a scan once stale.
	w.mu.Lock()
	marker := w.marker
	w.mu.Unlock()
	if marker != nil {
		if fi, err := w.d.r.Lstat(w.checkpointName()); err == nil && os.SameFile(fi, marker) {
			if err := w.d.r.Remove(w.checkpointName()); err != nil && !errors.Is(err, fs.ErrNotExist) {
				w.fs.log.Debug("unable to remove checkpoint", "path", w.path, "err", err)
			}
		}
	}
	w.reached(CommitUnmarked)
	return nil
}
