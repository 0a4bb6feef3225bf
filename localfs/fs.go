package localfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
	"github.com/ferry-sync/ferry/versions"
)

// Cache remembers the stat and hash of every file of the previous scan, so
// that an unchanged file is not read again. *snapshot.Cache satisfies it.
// It must be safe for concurrent use.
type Cache interface {
	Lookup(path string) (tree.Entry, bool)
	// Store is given every entry a scan lists, in scan order: what it
	// keeps of each (hashed files), and how far the scan has got.
	Store(e tree.Entry)
	// Scope says the scan about to Store lists only scope, so the
	// records outside it are not the scan's to drop.
	Scope(scope tree.Scope)
	// Scanned says the scan that called Scope listed all it was to
	// list, to the end.
	Scanned()
	// Learn keeps the stat and hash of a file hashed outside a scan (a
	// copy that read a file listed unhashed, or a file a Commit put in
	// place), for the next scan's Lookup; it drops nothing.
	Learn(e tree.Entry)
}

// ChunkStore keeps the chunk lists of large files (chunk.MinFileSize and
// up) with the lstat and hash each was computed for, so that Chunks
// answers from the list the scan computed in the read that hashed the file
// instead of reading it again. *snapshot.Cache satisfies it. It must be
// safe for concurrent use.
type ChunkStore interface {
	// StoreChunks keeps a list the scan computed; it may buffer it until
	// the scan's cache is committed.
	StoreChunks(e tree.Entry, l chunk.List) error
	// SaveChunks keeps a list computed outside a scan, at once.
	SaveChunks(e tree.Entry, l chunk.List) error
	// LoadChunks returns the list last kept for path and the entry it was
	// kept for; ok is false when there is none.
	LoadChunks(path string) (e tree.Entry, l chunk.List, ok bool, err error)
	// FindChunks calls found with a file and a chunk of its kept list for
	// kept chunks whose SHA-256 is in want, until found returns false.
	FindChunks(want map[[chunk.SumSize]byte]bool, found func(tree.Entry, chunk.Chunk) bool) error
}

// Options configure an FS. The zero value is usable.
type Options struct {
	// Cache, if not nil, is consulted and updated by Scan.
	Cache Cache
	// Chunks, if not nil, receives the chunk list of every file of
	// chunk.MinFileSize or more that Scan reads, computed in the same
	// read as its hash, and answers Chunks for files unchanged since.
	// Without it Scan computes no lists and Chunks reads the file.
	Chunks ChunkStore
	// HashWorkers bounds how many files Scan hashes at once; 0 means
	// runtime.NumCPU().
	HashWorkers int
	// Log receives debug messages, warnings, and the removal of each
	// stale partial file; nil discards them.
	Log *slog.Logger
	// PartialSuffix names in-flight files (default tree.DefaultPartialSuffix).
	PartialSuffix string
	// StalePartialAge is how long ferry's partial file of an interrupted
	// transfer is kept for a resume, counted from its last write or
	// resume: Scan removes older ones (and their checkpoints), since a
	// partial whose source was deleted or renamed is never asked for
	// again. 0 means DefaultStalePartialAge; a negative age keeps them
	// forever.
	StalePartialAge time.Duration
	// Now is the clock StalePartialAge is measured with; nil means
	// time.Now.
	Now func() time.Time
	// Failpoint, if not nil, is called at every step of every Commit with
	// the path being committed. It is for crash tests, which stop the
	// process there; nil in production.
	Failpoint func(step CommitStep, path string)
	// Versions, if not nil, is the folder's version store: every file
	// Remove deletes and every file an overwriting Commit or Symlink
	// replaces is moved into it first (by rename, or by a hard link for
	// a replacement), with the reason versions.ReasonFrom(ctx) gives
	// (default versions.Deleted or versions.Replaced). It must be the
	// store of this very folder. The FS does not close it.
	Versions *versions.Store
}

// FS is a local folder seen as a endpoint.Endpoint.
type FS struct {
	root          *os.Root
	cache         Cache
	chunks        ChunkStore
	workers       int
	log           *slog.Logger
	partialSuffix string
	wholeMax      int64         // wholeMax; tests of the partial file's mechanics set -1
	staleAge      time.Duration // negative: never remove stale partials
	now           func() time.Time
	dirs          *dirCache
	space         spaceTracker
	fold          foldProbe
	versions      *versions.Store // nil: nothing is kept

	// Test seams; nil in production.
	afterHash   func(path string)              // called after a file's content was read, before the re-stat
	beforeSum   func(path string)              // called when a copy's read is done, before HashingReader.Sum's fstat
	freeSpace   func() (endpoint.Space, error) // replaces statfs
	noXattr     bool                           // marks partials with the marker file only, as where xattrs are unsupported
	afterRename func(path string)              // called when Commit has renamed path into place, before its directory sync
	failpoint   func(step CommitStep, path string)
}

var _ endpoint.Endpoint = (*FS)(nil)

// RootError is a folder New cannot open: it does not exist, is not a
// directory or cannot be read. Its message names the folder once.
type RootError struct {
	Root   string
	NotDir bool // root is there, but is not a directory
	Err    error
}

func (e *RootError) Error() string {
	switch {
	case errors.Is(e.Err, fs.ErrNotExist):
		return fmt.Sprintf("folder %s does not exist", e.Root)
	case e.NotDir || errors.Is(e.Err, syscall.ENOTDIR):
		return fmt.Sprintf("%s is not a folder", e.Root)
	case errors.Is(e.Err, fs.ErrPermission):
		return fmt.Sprintf("folder %s cannot be read (permission denied)", e.Root)
	}
	cause := e.Err
	var pe *fs.PathError
	if errors.As(cause, &pe) {
		cause = pe.Err // it would name the folder again
	}
	return fmt.Sprintf("unable to open folder %s: %v", e.Root, cause)
}

func (e *RootError) Unwrap() error { return e.Err }

// openRoot opens root; when it cannot, the error is a *RootError.
func openRoot(root string) (*os.Root, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		re := &RootError{Root: root, Err: err}
		// os.OpenRoot says "not a directory" in words only.
		if fi, serr := os.Stat(root); serr == nil && !fi.IsDir() {
			re.NotDir = true
		}
		return nil, re
	}
	return r, nil
}

// CheckRoot reports, as a *RootError, why New could not open root; nil
// when it can be opened now. For callers that open other things in the
// folder (its version store) before New.
func CheckRoot(root string) error {
	r, err := openRoot(root)
	if err != nil {
		return err
	}
	return r.Close()
}

// New opens the folder root, which must exist and be a directory; when it
// cannot, the error is a *RootError.
func New(root string, opts Options) (*FS, error) {
	r, err := openRoot(root)
	if err != nil {
		return nil, err
	}
	dirs, err := newDirCache(r)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("unable to open folder %q: %w", root, err)
	}
	f := &FS{
		root:          r,
		dirs:          dirs,
		cache:         opts.Cache,
		chunks:        opts.Chunks,
		workers:       opts.HashWorkers,
		log:           opts.Log,
		partialSuffix: opts.PartialSuffix,
		wholeMax:      wholeMax,
		staleAge:      opts.StalePartialAge,
		now:           opts.Now,
		failpoint:     opts.Failpoint,
		versions:      opts.Versions,
	}
	if f.staleAge == 0 {
		f.staleAge = DefaultStalePartialAge
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.workers <= 0 {
		f.workers = runtime.NumCPU()
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.partialSuffix == "" {
		f.partialSuffix = tree.DefaultPartialSuffix
	}
	return f, nil
}

// Close releases the folder.
func (f *FS) Close() error {
	f.dirs.close()
	return f.root.Close()
}

// entryOf converts an lstat result. Target is left for the caller, which
// knows where the link lives.
func entryOf(p string, fi fs.FileInfo) tree.Entry {
	e := tree.Entry{
		Path:  p,
		Mode:  fi.Mode().Perm(),
		Mtime: fi.ModTime().UnixNano(),
	}
	e.Ino = inode(fi)
	switch t := fi.Mode().Type(); {
	case t == 0:
		e.Kind = tree.File
		e.Size = fi.Size()
	case t&fs.ModeDir != 0:
		e.Kind = tree.Dir
	case t&fs.ModeSymlink != 0:
		e.Kind = tree.Symlink
	default:
		// Reported rather than skipped, so reconcile never deletes or
		// overwrites it on the strength of its absence.
		e.Kind = tree.File
		e.Problem = fmt.Sprintf("not a regular file (%s); ferry does not sync special files", specialName(t))
	}
	return e
}

func specialName(t fs.FileMode) string {
	switch {
	case t&fs.ModeNamedPipe != 0:
		return "named pipe"
	case t&fs.ModeSocket != 0:
		return "socket"
	case t&fs.ModeDevice != 0:
		return "device"
	}
	return "irregular"
}

// matches reports whether the current state of a path is what the caller
// expected (both absent, or the same lstat).
func matches(cur, expect tree.Entry) bool {
	if !expect.Exists() || !cur.Exists() {
		return expect.Exists() == cur.Exists()
	}
	return cur.SameStat(expect)
}

func changed(op, p string, cur, expect tree.Entry) error {
	return fmt.Errorf("unable to %s %q: it is now %s (expected %s); it will be rescanned on the next pass: %w",
		op, p, describe(cur), describe(expect), endpoint.ErrChanged)
}

func describe(e tree.Entry) string {
	if !e.Exists() {
		return "absent"
	}
	return fmt.Sprintf("%s size=%d mtime=%d mode=%o ino=%d", e.Kind, e.Size, e.Mtime, e.Mode, e.Ino)
}

// dir is an open directory inside the folder, reached without following
// symlinks. It is released with close.
type dir struct {
	r    *os.Root
	h    *dirHandle
	c    *dirCache
	path string // relative to the folder, "" for the folder itself
}

func (d dir) close() {
	if d.c != nil {
		d.c.release(d.h)
	}
}

// file is the directory itself as a file, for the *at system calls and
// fsync that os.Root does not offer. It is shared: do not close it.
func (d dir) file() *os.File {
	return d.h.f
}

// errNotDir is wrapped when an element of a path is not a real directory.
var errNotDir = errors.New("is a symlink or not a directory; ferry does not follow it")

// parent validates p and opens its parent directory, descending one element
// at a time and refusing symlinks. os.Root alone would follow a symlink that
// stays inside the folder; writes must never do that. Each step checks that
// the directory it holds is the one lstat finds, so a swap is caught rather
// than followed. Directories stay open in f.dirs between calls.
func (f *FS) parent(p string) (dir, string, error) {
	if err := tree.ValidPath(p); err != nil {
		return dir{}, "", err
	}
	par, base := tree.Parent(p), tree.Base(p)
	h, err := f.dirs.get(par)
	if err != nil {
		return dir{}, "", fmt.Errorf("unable to reach %q: %w", par, err)
	}
	return dir{r: h.r, h: h, c: f.dirs, path: par}, base, nil
}

// parentFor is parent for a write: an unreachable parent means the tree is
// not what the caller scanned, so it is reported as ErrChanged.
func (f *FS) parentFor(op, p string) (dir, string, error) {
	if versions.IsStorePath(p) {
		return dir{}, "", fmt.Errorf("unable to %s %q: ferry's version store is never written by a pass: %w", op, p, tree.ErrInvalidPath)
	}
	d, base, err := f.parent(p)
	if err != nil {
		if errors.Is(err, tree.ErrInvalidPath) {
			return dir{}, "", fmt.Errorf("unable to %s: %w", op, err)
		}
		return dir{}, "", fmt.Errorf("unable to %s %q: %w: %w", op, p, endpoint.ErrChanged, err)
	}
	return d, base, nil
}

// lstat returns the entry at base in d, Kind Absent if there is none.
func lstat(d dir, p, base string) (tree.Entry, error) {
	fi, err := d.r.Lstat(base)
	if errors.Is(err, fs.ErrNotExist) {
		return tree.Entry{Path: p}, nil
	}
	if err != nil {
		return tree.Entry{}, err
	}
	e := entryOf(p, fi)
	if e.Kind == tree.Symlink {
		if e.Target, err = d.r.Readlink(base); err != nil {
			return tree.Entry{}, err
		}
	}
	return e, nil
}

// Stat lstats p without hashing.
func (f *FS) Stat(ctx context.Context, p string) (tree.Entry, error) {
	d, base, err := f.parent(p)
	if err != nil {
		if errors.Is(err, errNotDir) {
			err = fmt.Errorf("%w: %w", fs.ErrNotExist, err)
		}
		return tree.Entry{}, fmt.Errorf("unable to stat %q: %w", p, err)
	}
	defer d.close()
	e, err := lstat(d, p, base)
	if err != nil {
		return tree.Entry{}, fmt.Errorf("unable to stat %q: %w", p, err)
	}
	if !e.Exists() {
		return tree.Entry{}, fmt.Errorf("unable to stat %q: %w", p, fs.ErrNotExist)
	}
	return e, nil
}

// Mkdir creates p with mode (0 means 0755). An existing directory is fine;
// anything else already at p is an error wrapping endpoint.ErrExists.
func (f *FS) Mkdir(ctx context.Context, p string, mode fs.FileMode) error {
	d, base, err := f.parentFor("create directory", p)
	if err != nil {
		return err
	}
	defer d.close()
	if mode == 0 {
		mode = 0o755
	}
	if err := d.r.Mkdir(base, mode.Perm()); err != nil {
		if errors.Is(err, fs.ErrExist) {
			if cur, lerr := lstat(d, p, base); lerr == nil && cur.Kind == tree.Dir {
				return nil
			}
			return fmt.Errorf("unable to create directory %q: something that is not a directory is in the way: %w", p, endpoint.ErrExists)
		}
		return fmt.Errorf("unable to create directory %q: %w", p, err)
	}
	// mkdir applies the umask; the mode is part of what is synced.
	if err := d.r.Chmod(base, mode.Perm()); err != nil {
		return fmt.Errorf("unable to set mode of new directory %q: %w", p, err)
	}
	return nil
}

// tempPrefix and tempHexLen make the names of temporary files: a file
// being created beside its final name, which scans skip and, once stale,
// remove (see isTempName).
const (
	tempPrefix = ".ferry-tmp."
	tempHexLen = 16
)

func tempName() string {
	var b [tempHexLen / 2]byte
	_, _ = rand.Read(b[:])
	return tempPrefix + hex.EncodeToString(b[:])
}

// Symlink creates a link to target at p, replacing what expect describes.
func (f *FS) Symlink(ctx context.Context, p, target string, expect tree.Entry) error {
	if target == "" || strings.IndexByte(target, 0) >= 0 {
		return fmt.Errorf("unable to create symlink %q: invalid target %q", p, target)
	}
	d, base, err := f.parentFor("create symlink", p)
	if err != nil {
		return err
	}
	defer d.close()
	cur, err := lstat(d, p, base)
	if err != nil {
		return fmt.Errorf("unable to create symlink %q: %w", p, err)
	}
	if !matches(cur, expect) {
		return changed("create symlink", p, cur, expect)
	}
	if !cur.Exists() {
		if err := d.r.Symlink(target, base); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("unable to create symlink %q: something appeared there meanwhile: %w", p, endpoint.ErrChanged)
			}
			return fmt.Errorf("unable to create symlink %q: %w", p, err)
		}
		return nil
	}
	if cur.Kind == tree.Dir {
		// rename cannot put a link over a directory; an empty one goes first.
		if err := d.r.Remove(base); err != nil {
			if isNotEmpty(err) {
				return fmt.Errorf("unable to replace directory %q with a symlink: %w", p, endpoint.ErrNotEmpty)
			}
			return fmt.Errorf("unable to replace directory %q with a symlink: %w", p, err)
		}
		if err := d.r.Symlink(target, base); err != nil {
			return fmt.Errorf("unable to create symlink %q: %w", p, err)
		}
		return nil
	}
	// Build the link beside and rename it over, so p is never missing.
	tmp := tempName()
	if err := d.r.Symlink(target, tmp); err != nil {
		return fmt.Errorf("unable to create symlink %q: %w", p, err)
	}
	undo, err := f.keepReplaced(ctx, d, p, base)
	if err != nil {
		d.r.Remove(tmp)
		return fmt.Errorf("unable to create symlink %q: %w", p, err)
	}
	if err := d.r.Rename(tmp, base); err != nil {
		undo()
		d.r.Remove(tmp)
		return fmt.Errorf("unable to create symlink %q: %w", p, err)
	}
	return nil
}

// Remove deletes a file, symlink or empty directory that still matches expect.
func (f *FS) Remove(ctx context.Context, p string, expect tree.Entry) error {
	d, base, err := f.parentFor("remove", p)
	if err != nil {
		return err
	}
	defer d.close()
	cur, err := lstat(d, p, base)
	if err != nil {
		return fmt.Errorf("unable to remove %q: %w", p, err)
	}
	if !cur.Exists() {
		if !expect.Exists() {
			return fmt.Errorf("unable to remove %q: %w", p, fs.ErrNotExist)
		}
		return fmt.Errorf("%w: %w", changed("remove", p, cur, expect), fs.ErrNotExist)
	}
	if !matches(cur, expect) {
		return changed("remove", p, cur, expect)
	}
	if cur.Kind != tree.Dir && f.versions != nil {
		kept, err := f.keep(ctx, d, p, base, versions.Deleted)
		if err != nil {
			return fmt.Errorf("unable to remove %q: %w", p, err)
		}
		if kept {
			return nil
		}
	}
	if err := d.r.Remove(base); err != nil {
		if cur.Kind == tree.Dir && isNotEmpty(err) {
			return fmt.Errorf("unable to remove directory %q: it still has entries: %w", p, endpoint.ErrNotEmpty)
		}
		return fmt.Errorf("unable to remove %q: %w", p, err)
	}
	return nil
}

// Rename moves from to to without ever overwriting to.
func (f *FS) Rename(ctx context.Context, from, to string, expect tree.Entry) error {
	if tree.IsBelow(to, from) || to == from {
		return fmt.Errorf("unable to rename %q to %q: destination is inside the source", from, to)
	}
	fd, fbase, err := f.parentFor("rename", from)
	if err != nil {
		return err
	}
	defer fd.close()
	td, tbase, err := f.parentFor("rename", to)
	if err != nil {
		return err
	}
	defer td.close()
	cur, err := lstat(fd, from, fbase)
	if err != nil {
		return fmt.Errorf("unable to rename %q: %w", from, err)
	}
	if !cur.Exists() || !matches(cur, expect) {
		return changed("rename", from, cur, expect)
	}
	dst, err := lstat(td, to, tbase)
	if err != nil {
		return fmt.Errorf("unable to rename %q to %q: %w", from, to, err)
	}
	if dst.Exists() {
		return fmt.Errorf("unable to rename %q to %q: the destination is taken (%s): %w", from, to, dst.Kind, endpoint.ErrExists)
	}
	if err := renameNoReplace(fd, fbase, td, tbase); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("unable to rename %q to %q: the destination appeared meanwhile: %w", from, to, endpoint.ErrExists)
		}
		return fmt.Errorf("unable to rename %q to %q: %w", from, to, err)
	}
	return nil
}

// SetMeta sets permission bits and mtime (ns; 0 leaves it) without following
// a symlink. On a symlink only the mtime is set.
func (f *FS) SetMeta(ctx context.Context, p string, mode fs.FileMode, mtime int64) error {
	d, base, err := f.parentFor("set metadata of", p)
	if err != nil {
		return err
	}
	defer d.close()
	cur, err := lstat(d, p, base)
	if err != nil {
		return fmt.Errorf("unable to set metadata of %q: %w", p, err)
	}
	if !cur.Exists() {
		return fmt.Errorf("unable to set metadata of %q: %w", p, fs.ErrNotExist)
	}
	if cur.Kind != tree.Symlink && cur.Mode != mode.Perm() {
		// os.Root.Chmod would follow a symlink, which cur says this is not;
		// a swap in the instant between is confined to the folder.
		if err := d.r.Chmod(base, mode.Perm()); err != nil {
			return fmt.Errorf("unable to set mode of %q: %w", p, err)
		}
	}
	if mtime != 0 {
		if err := setMtimeNoFollow(d, base, mtime); err != nil {
			return fmt.Errorf("unable to set mtime of %q: %w", p, err)
		}
	}
	return nil
}

// OpenFile opens a regular file for reading; a symlink is refused.
func (f *FS) OpenFile(ctx context.Context, p string) (endpoint.FileReader, error) {
	r, err := f.openFile(p)
	if err != nil {
		return nil, err // not a nil *reader in a non-nil interface
	}
	return r, nil
}

// openFile is OpenFile with the file itself in reach.
func (f *FS) openFile(p string) (*reader, error) {
	d, base, err := f.parent(p)
	if err != nil {
		if errors.Is(err, errNotDir) {
			err = fmt.Errorf("%w: %w", fs.ErrNotExist, err)
		}
		return nil, fmt.Errorf("unable to open %q: %w", p, err)
	}
	defer d.close()
	file, fi, err := openRead(d, base)
	if err != nil {
		return nil, fmt.Errorf("unable to open %q: %w", p, err)
	}
	return &reader{readFile: file, size: fi.Size(), fs: f, opened: fi}, nil
}

// errNotRegular is wrapped when a path that must be a regular file is not.
var errNotRegular = errors.New("not a regular file")

// openRegular opens name for reading only if it is a regular file, and
// checks that what was opened is what lstat saw: os.Root would follow a
// symlink inside the folder, and O_NONBLOCK keeps a FIFO swapped in from
// blocking the open.
func openRegular(r *os.Root, name string) (*os.File, fs.FileInfo, error) {
	li, err := r.Lstat(name)
	if err != nil {
		return nil, nil, err
	}
	if !li.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%w (%s)", errNotRegular, li.Mode().Type())
	}
	file, err := r.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() || !os.SameFile(li, fi) {
		file.Close()
		return nil, nil, fmt.Errorf("%w: it changed while being opened", errNotRegular)
	}
	return file, fi, nil
}

// readFile is an open file as reader uses it: an *os.File, or on Linux a
// descriptor read directly (openRead).
type readFile interface {
	ReadAt(b []byte, off int64) (int, error)
	Stat() (fs.FileInfo, error)
	Close() error
}

// reader reads one file, and hashes what it reads for Sum while the reads
// go on in order from the first byte (copies do; a block delta does not).
type reader struct {
	readFile
	size   int64
	fs     *FS
	opened fs.FileInfo // the fstat made when it was opened

	mu       sync.Mutex
	digest   *xxhash.Digest
	next     int64 // where the in-order reads have got to
	outOfOrd bool
}

var _ endpoint.HashingReader = (*reader)(nil)

func (r *reader) Size() int64 { return r.size }

// ReadAt reads, and hashes what it read if it goes on from the last read.
func (r *reader) ReadAt(b []byte, off int64) (int, error) {
	n, err := r.readFile.ReadAt(b, off)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.outOfOrd:
	case off != r.next:
		r.outOfOrd = true
	default:
		if r.digest == nil {
			r.digest = xxhash.New()
		}
		r.digest.Write(b[:n])
		r.next += int64(n)
	}
	return n, err
}

// Sum returns the xxhash of the file read whole, in order, if it is still
// what expect says and its ctime has not moved since it was opened (see
// endpoint.HashingReader), and keeps it in the scan cache.
func (r *reader) Sum(expect tree.Entry) (uint64, error) {
	r.mu.Lock()
	ok, n, digest := !r.outOfOrd, r.next, r.digest
	r.mu.Unlock()
	if !ok || n != r.size {
		return 0, fmt.Errorf("unable to hash %q: it was not read whole, in order (%d of %d bytes)", expect.Path, n, r.size)
	}
	if r.fs.beforeSum != nil {
		r.fs.beforeSum(expect.Path)
	}
	after, err := r.readFile.Stat()
	if err != nil {
		return 0, fmt.Errorf("unable to hash %q: %w", expect.Path, err)
	}
	now := entryOf(expect.Path, after)
	if !sameFile(entryOf(expect.Path, r.opened), expect) || !sameFile(now, expect) || ctime(after) != ctime(r.opened) {
		return 0, fmt.Errorf("unable to hash %q: it changed while it was read: %w", expect.Path, endpoint.ErrChanged)
	}
	sum := xxhash.Sum64(nil)
	if digest != nil {
		sum = digest.Sum64()
	}
	if r.fs.cache != nil {
		now.Hash = sum
		r.fs.cache.Learn(now)
	}
	return sum, nil
}

// FreeSpace reports space on the folder's filesystem.
func (f *FS) FreeSpace(ctx context.Context) (endpoint.Space, error) {
	if f.freeSpace != nil {
		return f.freeSpace()
	}
	sp, err := statfs(f.dirs.root.f)
	if err != nil {
		return endpoint.Space{}, fmt.Errorf("unable to read free space of %q: %w", f.root.Name(), err)
	}
	return sp, nil
}
