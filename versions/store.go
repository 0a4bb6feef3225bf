package versions

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// Version is one kept file.
type Version struct {
	// Path is the file's path in the folder, slash-separated.
	Path string
	// Time is when it was kept, to the millisecond, UTC.
	Time time.Time
	// Reason is why it was kept.
	Reason Reason
	// Size is its size in bytes.
	Size int64
	// ModTime is its modification time when it was kept.
	ModTime time.Time
	// Mode is its type and permission bits.
	Mode fs.FileMode
}

// StorePath is where v lies, slash-separated, relative to the folder.
func (v Version) StorePath() string { return storeName(v.Path, v.Time, v.Reason) }

// Usage is the disk use of a store.
type Usage struct {
	// Files counts every file in the store, versions or not.
	Files int
	// Bytes is their total size.
	Bytes int64
}

// KeepStep names a point inside Keep, for crash tests.
type KeepStep int

const (
	// KeepDirMade: the version's directory in the store exists; the file
	// is still in place.
	KeepDirMade KeepStep = iota + 1
	// KeepMoved: the file is in the store.
	KeepMoved
)

// Errors Keep wraps.
var (
	// ErrIsDir: directories are not kept.
	ErrIsDir = errors.New("is a directory; only files are kept as versions")
	// ErrCrossDevice: the file is on another filesystem than the store
	// (a mount inside the folder) and cannot be moved by a rename.
	ErrCrossDevice = errors.New("is on another filesystem than the version store")
	// ErrInStore: the path is inside the store itself.
	ErrInStore = errors.New("is inside the version store " + Dir)
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// Now is the clock versions are timed with and Prune measures ages
	// with; nil means time.Now.
	Now func() time.Time
	// Failpoint, if not nil, is called at every step of every Keep with
	// the path being kept. It is for crash tests; nil in production.
	Failpoint func(step KeepStep, rel string)
}

// Store is the version store of one folder. It is safe for concurrent use.
type Store struct {
	root      *os.Root
	now       func() time.Time
	failpoint func(KeepStep, string)
	mu        sync.Mutex // serialises Keep's choice of a free name and its rename with Remove's pruning of empty directories
}

// Open opens the store of the folder at folder, which must exist. The
// store's directory is made by the first Keep.
func Open(folder string, opts Options) (*Store, error) {
	r, err := os.OpenRoot(folder)
	if err != nil {
		return nil, fmt.Errorf("unable to open version store of %q: %w", folder, err)
	}
	s := &Store{root: r, now: opts.Now, failpoint: opts.Failpoint}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Close releases the folder.
func (s *Store) Close() error { return s.root.Close() }

func (s *Store) reached(step KeepStep, rel string) {
	if s.failpoint != nil {
		s.failpoint(step, rel)
	}
}

// Keep moves the file, symlink or special file at rel (slash-separated,
// relative to the folder) into the store, by a rename. The directories
// on the way to rel may be symlinks that stay inside the folder; callers
// that must not follow them use KeepAt.
func (s *Store) Keep(rel string, r Reason) (Version, error) {
	d, base, err := s.openParent(rel)
	if err != nil {
		return Version{}, fmt.Errorf("unable to keep a version of %q: %w", rel, err)
	}
	defer d.Close()
	return s.KeepAt(d, base, rel, r)
}

// openParent opens the directory rel is in, and returns it with rel's
// base name.
func (s *Store) openParent(rel string) (*os.File, string, error) {
	parent, base := path.Split(rel)
	parent = strings.TrimSuffix(parent, "/")
	if parent == "" {
		parent = "."
	}
	d, err := s.root.Open(parent)
	return d, base, err
}

// KeepAt is Keep for the entry base of the open directory dir, which is
// rel in the folder: ferry's folder endpoint holds its directories open
// and never follows a symlink to reach one.
func (s *Store) KeepAt(dir *os.File, base, rel string, r Reason) (Version, error) {
	return s.keepAt(dir, base, rel, r, false)
}

// LinkAt is KeepAt for a file about to be replaced: it gives the file a
// second name in the store (a hard link, no copy) and leaves it in place,
// so the caller's rename of the new file over it never leaves the path
// empty. Where the filesystem has no hard links it moves the file like
// KeepAt; moved then says that the path is now empty.
func (s *Store) LinkAt(dir *os.File, base, rel string, r Reason) (v Version, moved bool, err error) {
	v, err = s.keepAt(dir, base, rel, r, true)
	if err != nil && errors.Is(err, errNoLinks) {
		v, err = s.keepAt(dir, base, rel, r, false)
		return v, err == nil, err
	}
	return v, false, err
}

func (s *Store) keepAt(dir *os.File, base, rel string, r Reason, link bool) (Version, error) {
	fail := func(err error) (Version, error) {
		return Version{}, fmt.Errorf("unable to keep a version of %q: %w", rel, err)
	}
	if !r.Valid() {
		return fail(fmt.Errorf("unknown reason %q", r))
	}
	if IsStorePath(rel) {
		return fail(ErrInStore)
	}
	if base == "" || base == "." || base == ".." || strings.ContainsRune(base, '/') {
		return fail(fmt.Errorf("invalid name %q", base))
	}
	fi, err := lstatAt(dir, base)
	if err != nil {
		return fail(err)
	}
	if fi.IsDir() {
		return fail(ErrIsDir)
	}
	if len(Name(base, time.Time{}, r)) > maxNameLen {
		return fail(fmt.Errorf("the name is too long to be kept beside a time: %w", ErrNameTooLong))
	}
	relDir := path.Dir(rel)
	storeDir := Dir
	if relDir != "." {
		storeDir = path.Join(Dir, relDir)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.now().UTC().Truncate(time.Millisecond)
	// The directory may go between MkdirAll and the rename, pruned as
	// empty by another Store of the same folder: make it again.
	for range 3 {
		if err := s.root.MkdirAll(storeDir, 0o700); err != nil {
			return fail(fmt.Errorf("unable to make %q: %w", storeDir, err))
		}
		sd, err := s.root.Open(storeDir)
		if errors.Is(err, fs.ErrNotExist) {
			continue // pruned as empty meanwhile
		}
		if err != nil {
			return fail(err)
		}
		s.reached(KeepDirMade, rel)
		var tried bool
		// Two versions of one file in one millisecond: the later moves
		// on by a millisecond, so names stay unique and in order.
		for range 1000 {
			name := Name(base, t, r)
			if link {
				err = linkAt(dir, base, sd, name)
			} else {
				err = renameNoReplace(dir, base, sd, name)
			}
			if !errors.Is(err, fs.ErrExist) {
				tried = true
				break
			}
			t = t.Add(time.Millisecond)
		}
		sd.Close()
		switch {
		case !tried:
			return fail(fmt.Errorf("no free name in %q", storeDir))
		case err == nil:
			s.reached(KeepMoved, rel)
			return Version{Path: rel, Time: t, Reason: r, Size: fi.Size(), ModTime: fi.ModTime(), Mode: fi.Mode()}, nil
		case errors.Is(err, fs.ErrNotExist):
			if _, serr := lstatAt(dir, base); serr != nil {
				return fail(serr) // the file itself is gone
			}
			continue // the store's directory is gone
		case isCrossDevice(err):
			return fail(fmt.Errorf("%w: %w", ErrCrossDevice, err))
		case link && isNoLinks(err):
			return fail(fmt.Errorf("%w: %w", errNoLinks, err))
		default:
			return fail(err)
		}
	}
	return fail(fmt.Errorf("%q keeps disappearing", storeDir))
}

// maxNameLen is the longest base name most filesystems take.
const maxNameLen = 255

// errNoLinks: the filesystem makes no hard links.
var errNoLinks = errors.New("the filesystem has no hard links")

// ErrNameTooLong is wrapped by Keep when a name is too long for the time
// and reason to fit beside it (255 bytes).
var ErrNameTooLong = errors.New("name too long")

// List returns the versions of the file at prefix and of every file
// below it, "" for all, ordered by path then time.
func (s *Store) List(prefix string) ([]Version, error) {
	prefix = strings.Trim(prefix, "/")
	var out []Version
	add := func(storeRel string, d fs.DirEntry) error {
		if d.IsDir() {
			return nil
		}
		dir, name := path.Split(storeRel)
		orig, t, r, err := ParseName(name)
		if err != nil {
			return nil // not a version: a person's file in the store
		}
		p := path.Join(strings.TrimPrefix(strings.TrimSuffix(dir, "/"), Dir), orig)
		p = strings.TrimPrefix(p, "/")
		if prefix != "" && p != prefix && !strings.HasPrefix(p, prefix+"/") {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		out = append(out, Version{Path: p, Time: t, Reason: r, Size: fi.Size(), ModTime: fi.ModTime(), Mode: fi.Mode()})
		return nil
	}
	fsys := s.root.FS()
	walk := func(start string, deep bool) error {
		err := fs.WalkDir(fsys, start, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() && p != start && !deep {
				return fs.SkipDir
			}
			return add(p, d)
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("unable to list versions of %q: %w", prefix, err)
		}
		return nil
	}
	if prefix == "" {
		if err := walk(Dir, true); err != nil {
			return nil, err
		}
	} else {
		// The versions of a file lie beside its folder's, those of the
		// files below it in the folder named after it.
		if err := walk(path.Join(Dir, path.Dir(prefix)), false); err != nil {
			return nil, err
		}
		if err := walk(path.Join(Dir, prefix), true); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b Version) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return a.Time.Compare(b.Time)
	})
	return slices.CompactFunc(out, func(a, b Version) bool {
		return a.Path == b.Path && a.Time.Equal(b.Time) && a.Reason == b.Reason
	}), nil
}

// Open opens v's content for reading.
func (s *Store) Open(v Version) (*os.File, error) {
	f, err := s.root.Open(v.StorePath())
	if err != nil {
		return nil, fmt.Errorf("unable to open version of %q kept at %s: %w", v.Path, v.Time.Format(time.RFC3339Nano), err)
	}
	return f, nil
}

// Remove deletes v from the store, and the store's directories it leaves
// empty.
func (s *Store) Remove(v Version) error {
	p := v.StorePath()
	if err := s.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unable to remove version of %q kept at %s: %w", v.Path, v.Time.Format(time.RFC3339Nano), err)
	}
	// Not while this Store keeps a file: its directory would go between
	// the MkdirAll and the rename.
	s.mu.Lock()
	defer s.mu.Unlock()
	for d := path.Dir(p); d != Dir && d != "." && d != "/"; d = path.Dir(d) {
		if s.root.Remove(d) != nil {
			break // not empty, or gone
		}
	}
	return nil
}

// Restore puts a copy of v at to (slash-separated, relative to the
// folder; usually v.Path) as an ordinary edit, with v's mode and mtime.
// What is at to is kept first, with reason Restore; a directory there is
// an error. v stays in the store.
func (s *Store) Restore(v Version, to string) error {
	fail := func(err error) error {
		return fmt.Errorf("unable to restore %q (kept at %s) to %q: %w", v.Path, v.Time.Format(time.RFC3339Nano), to, err)
	}
	if IsStorePath(to) {
		return fail(ErrInStore)
	}
	parent := path.Dir(to)
	if err := s.root.MkdirAll(parent, 0o755); err != nil {
		return fail(err)
	}
	tmp := path.Join(parent, tempName())
	if v.Mode&fs.ModeSymlink != 0 {
		target, err := s.root.Readlink(v.StorePath())
		if err != nil {
			return fail(err)
		}
		if err := s.root.Symlink(target, tmp); err != nil {
			return fail(err)
		}
	} else {
		if err := s.copyOut(v, tmp); err != nil {
			s.root.Remove(tmp)
			return fail(err)
		}
	}
	var kept *Version // linked, to go again if the rename fails
	if fi, err := s.root.Lstat(to); err == nil {
		if fi.IsDir() {
			s.root.Remove(tmp)
			return fail(ErrIsDir)
		}
		// Linked, not moved: the rename below replaces it in one step,
		// so the path is never empty if that rename fails.
		d, base, err := s.openParent(to)
		var v Version
		var moved bool
		if err == nil {
			v, moved, err = s.LinkAt(d, base, to, Restore)
			d.Close()
		}
		if err != nil {
			s.root.Remove(tmp)
			return fail(err)
		}
		if !moved {
			kept = &v
		}
	}
	if err := s.root.Rename(tmp, to); err != nil {
		s.root.Remove(tmp)
		if kept != nil {
			// Nothing was replaced: no version of it either.
			s.Remove(*kept)
		}
		return fail(err)
	}
	return nil
}

func (s *Store) copyOut(v Version, tmp string) error {
	src, err := s.Open(v)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Chmod(v.Mode.Perm()); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	if !v.ModTime.IsZero() {
		if err := s.root.Chtimes(tmp, v.ModTime, v.ModTime); err != nil {
			return err
		}
	}
	return nil
}

// tempName is a name ferry's scans skip and remove once stale (see
// tree.IsTemp).
func tempName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return ".ferry-tmp." + hex.EncodeToString(b[:])
}

// Usage walks the store and adds up what it holds.
func (s *Store) Usage() (Usage, error) {
	var u Usage
	err := fs.WalkDir(s.root.FS(), Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		u.Files++
		u.Bytes += fi.Size()
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Usage{}, fmt.Errorf("unable to measure version store: %w", err)
	}
	return u, nil
}

// Prune removes what Prune(versions, p, now) drops, with p's MaxPercent
// taken of the folder's filesystem, and returns the removed versions.
func (s *Store) Prune(p Policy) ([]Version, error) {
	vs, err := s.List("")
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, nil
	}
	total, err := s.filesystemSize()
	if err != nil {
		return nil, fmt.Errorf("unable to prune versions: %w", err)
	}
	drop := Prune(vs, p.OnFilesystem(total), s.now())
	var errs []error
	removed := drop[:0:0]
	for _, v := range drop {
		if err := s.Remove(v); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, v)
	}
	return removed, errors.Join(errs...)
}

func (s *Store) filesystemSize() (int64, error) {
	d, err := s.root.Open(".")
	if err != nil {
		return 0, err
	}
	defer d.Close()
	return fsSize(d)
}
