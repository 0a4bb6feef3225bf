package localfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/sync/errgroup"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
	"github.com/ferry-sync/ferry/versions"
)

// hashAttempts bounds how often a file that keeps changing is read.
const hashAttempts = 4

// problemChanged is the Problem of a file that kept changing while hashed.
const problemChanged = "changed while hashing"

// item is one entry on its way from the walker to visit, in scan order.
// ready is nil when the entry is complete; otherwise a hash worker closes it.
type item struct {
	e     tree.Entry
	ready chan struct{}
}

type hashJob struct {
	it   *item
	d    *dirRef
	name string
}

// dirRef keeps a directory open while the walker and hash workers use it.
type dirRef struct {
	r     *os.Root
	owned bool
	refs  atomic.Int32
}

func (d *dirRef) acquire() { d.refs.Add(1) }

func (d *dirRef) release() {
	if d.refs.Add(-1) == 0 && d.owned {
		d.r.Close()
	}
}

type scanner struct {
	fs      *FS
	ctx     context.Context
	match   *tree.Matcher
	suffix  string
	items   chan *item
	jobs    chan hashJob
	buffers chan []byte
	// sweeping is set when stale partial files are removed as found;
	// those last modified before cutoff are stale. now is the scan's
	// start, for the logged age.
	sweeping bool
	now      time.Time
	cutoff   time.Time
	// scope is what a scoped scan lists (ScanOptions.Within).
	scope tree.Scope
	// hashLater lists files the cache does not know unhashed
	// (ScanOptions.HashLater).
	hashLater bool
}

// Scan visits every entry below the root in tree.Compare order, or with
// opts.Within only the scope it names: the directories above each path,
// each alone, and each path's subtree. Directories
// are listed one at a time by a walker, files whose stat differs from the
// cache are hashed by a pool of workers, and entries are handed to visit in
// walk order as soon as each is complete; at most a bounded window of
// entries is in flight, so memory does not grow with the tree. visit is
// called from one goroutine at a time, not necessarily the caller's.
func (f *FS) Scan(ctx context.Context, opts endpoint.ScanOptions, visit func(tree.Entry) error) error {
	m, err := tree.NewMatcher(opts.Exclude)
	if err != nil {
		return fmt.Errorf("unable to scan %q: %w", f.root.Name(), err)
	}
	suffix := opts.PartialSuffix
	if suffix == "" {
		suffix = f.partialSuffix
	}
	g, gctx := errgroup.WithContext(ctx)
	s := &scanner{
		fs:        f,
		ctx:       gctx,
		match:     m,
		suffix:    suffix,
		items:     make(chan *item, 256+16*f.workers),
		jobs:      make(chan hashJob, 2*f.workers),
		buffers:   make(chan []byte, f.workers),
		scope:     tree.NewScope(opts.Within),
		hashLater: opts.HashLater,
	}
	if f.cache != nil {
		f.cache.Scope(s.scope)
	}
	if f.staleAge >= 0 && !opts.KeepStale {
		s.sweeping, s.now = true, f.now()
		s.cutoff = s.now.Add(-f.staleAge)
	}
	for range f.workers {
		s.buffers <- make([]byte, 256<<10)
	}
	g.Go(s.walk)
	workers, wctx := errgroup.WithContext(gctx)
	for range f.workers {
		workers.Go(func() error {
			for j := range s.jobs {
				if wctx.Err() == nil {
					s.hash(j)
				}
				close(j.it.ready)
				j.d.release()
			}
			return nil
		})
	}
	g.Go(workers.Wait)
	g.Go(func() error {
		for it := range s.items {
			if it.ready != nil {
				select {
				case <-it.ready:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			if f.cache != nil {
				// Every entry, so the cache knows how far the scan
				// has got (it keeps only hashed files).
				f.cache.Store(it.e)
			}
			if err := visit(it.e); err != nil {
				return err
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if f.cache != nil {
		f.cache.Scanned()
	}
	return nil
}

func (s *scanner) send(it *item) error {
	select {
	case s.items <- it:
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

func (s *scanner) walk() error {
	defer close(s.items)
	defer close(s.jobs)
	root := &dirRef{r: s.fs.root}
	root.acquire()
	defer root.release()
	if !s.scope.Whole() {
		// The root is not listed, but it must be there.
		if _, err := root.r.Stat("."); err != nil {
			return fmt.Errorf("unable to scan %q (check that it exists and is readable): %w", s.fs.root.Name(), err)
		}
		return s.walkScope(root)
	}
	list, err := readDir(root.r)
	if err != nil {
		return fmt.Errorf("unable to scan %q (check that it exists and is readable): %w", s.fs.root.Name(), err)
	}
	return s.walkDir(root, "", list)
}

// walkScope lists a scoped scan's items in order: a context directory is
// lstat'ed and sent alone, a root's subtree is walked as a whole scan
// walks it. What a whole scan would leave out (excluded, in-flight or the
// version store, or below such a directory) is left out here too; an item
// whose parent cannot be opened as a directory is not listed, which its
// context directory, listed as it now is, shows the pass.
func (s *scanner) walkScope(root *dirRef) error {
	type open struct {
		path string
		d    *dirRef
	}
	chain := []open{{"", root}}
	defer func() {
		for _, o := range chain[1:] {
			o.d.release()
		}
	}()
	// parent returns the open directory dir, reusing the chain opened for
	// the item before; nil if dir cannot be opened or is left out.
	parent := func(dir string) *dirRef {
		for top := chain[len(chain)-1].path; top != "" && top != dir && !tree.IsBelow(dir, top); top = chain[len(chain)-1].path {
			chain[len(chain)-1].d.release()
			chain = chain[:len(chain)-1]
		}
		for top := chain[len(chain)-1]; top.path != dir; top = chain[len(chain)-1] {
			rest := dir
			if top.path != "" {
				rest = dir[len(top.path)+1:]
			}
			name, _, _ := strings.Cut(rest, "/")
			p := name
			if top.path != "" {
				p = top.path + "/" + name
			}
			if s.leftOut(p, name, true) {
				return nil
			}
			sub, err := openChild(top.d.r, name)
			if err != nil {
				return nil
			}
			d := &dirRef{r: sub, owned: true}
			d.acquire()
			chain = append(chain, open{p, d})
		}
		return chain[len(chain)-1].d
	}
	for _, it := range s.scope.Items() {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		d := parent(tree.Parent(it.Path))
		if d == nil {
			continue
		}
		name := tree.Base(it.Path)
		fi, err := d.r.Lstat(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if it.Subtree || err != nil || !fi.IsDir() {
			// A context path that is no longer a directory is listed as a
			// whole scan lists it: the pass sees what it became.
			var de fs.DirEntry
			if err == nil {
				de = fs.FileInfoToDirEntry(fi)
			} else {
				de = failedEntry{name, err}
			}
			if err := s.walkDir(d, tree.Parent(it.Path), []fs.DirEntry{de}); err != nil {
				return err
			}
			continue
		}
		if s.leftOut(it.Path, name, true) {
			continue
		}
		e := entryOf(it.Path, fi)
		// Opened now, for the items below it, as a whole scan opens a
		// directory before listing it: one that cannot be is a problem.
		if parent(it.Path) == nil {
			e.Problem = "unable to read directory"
		}
		if err := s.send(&item{e: e}); err != nil {
			return err
		}
	}
	return nil
}

// leftOut reports whether a whole scan leaves p (named name) out.
func (s *scanner) leftOut(p, name string, isDir bool) bool {
	return versions.IsStoreName(name) || tree.IsTemp(name, s.suffix) || s.match.Match(p, isDir)
}

// failedEntry is a directory entry whose lstat failed.
type failedEntry struct {
	name string
	err  error
}

func (f failedEntry) Name() string               { return f.name }
func (f failedEntry) IsDir() bool                { return false }
func (f failedEntry) Type() fs.FileMode          { return 0 }
func (f failedEntry) Info() (fs.FileInfo, error) { return nil, f.err }

// readDir lists a directory sorted by name, which for the names of one
// directory is tree.Compare order.
func readDir(r *os.Root) ([]fs.DirEntry, error) {
	d, err := r.Open(".")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	list, err := d.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name() < list[j].Name() })
	return list, nil
}

// walkDir emits the entries of one directory, descending into each
// subdirectory right after emitting it so children follow their parent.
func (s *scanner) walkDir(d *dirRef, dirPath string, list []fs.DirEntry) error {
	for _, de := range list {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		name := de.Name()
		if versions.IsStoreName(name) {
			continue // the version store is never synced
		}
		if tree.IsTemp(name, s.suffix) {
			if s.sweeping {
				s.sweep(d.r, dirPath, name, de)
			}
			continue
		}
		p := name
		if dirPath != "" {
			p = dirPath + "/" + name
		}
		// A directory opened through os.Root lists with an fstatat of each
		// entry in that directory, so Info is that lstat, already done;
		// a second Lstat would repeat the system call.
		fi, err := de.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since the listing: it is simply not there
		}
		var e tree.Entry
		if err != nil {
			e = tree.Entry{Path: p, Kind: kindOf(de.Type()), Problem: "unable to read: " + errText(err)}
		} else {
			e = entryOf(p, fi)
		}
		if s.match.Match(p, e.Kind == tree.Dir) {
			continue
		}
		if e.Problem == "" {
			if err := tree.ValidPath(p); err != nil {
				// Legal here but not a valid ferry path, so it can be
				// neither compared nor sent; shown, not descended.
				e.Problem = "name cannot be synced: " + unsyncable(p) + "; rename it"
			}
		}
		if e.Problem != "" {
			if err := s.send(&item{e: e}); err != nil {
				return err
			}
			continue
		}
		switch e.Kind {
		case tree.Symlink:
			if e.Target, err = d.r.Readlink(name); err != nil {
				e.Problem = "unable to read link: " + errText(err)
			} else if !utf8.ValidString(e.Target) {
				e.Problem = "link target is not valid UTF-8; ferry cannot send it"
			}
			if err := s.send(&item{e: e}); err != nil {
				return err
			}
		case tree.Dir:
			if err := s.dir(d, name, fi, e); err != nil {
				return err
			}
		case tree.File:
			if err := s.file(d, name, e); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *scanner) dir(parent *dirRef, name string, fi fs.FileInfo, e tree.Entry) error {
	// The directory is opened and listed before its entry is emitted, so
	// an unreadable one is reported as such and not descended.
	sub, err := openChild(parent.r, name)
	var list []fs.DirEntry
	if err == nil {
		list, err = readDir(sub)
		if err != nil {
			sub.Close()
		}
	}
	if err != nil {
		e.Problem = "unable to read directory: " + errText(err)
		return s.send(&item{e: e})
	}
	if err := s.send(&item{e: e}); err != nil {
		sub.Close()
		return err
	}
	d := &dirRef{r: sub, owned: true}
	d.acquire()
	defer d.release()
	return s.walkDir(d, e.Path, list)
}

func (s *scanner) file(d *dirRef, name string, e tree.Entry) error {
	if s.fs.cache != nil {
		if c, ok := s.fs.cache.Lookup(e.Path); ok && c.Kind == tree.File && c.Problem == "" && c.Hash != 0 &&
			c.Ino == e.Ino && c.Size == e.Size && c.Mtime == e.Mtime && c.Mode == e.Mode {
			e.Hash = c.Hash
			return s.send(&item{e: e})
		}
	}
	if s.hashLater && (s.fs.chunks == nil || e.Size < chunk.MinFileSize) {
		// Hashed as it is copied, or by a scan of its path alone if
		// the pass must compare it (endpoint.ScanOptions.HashLater). A
		// file large enough for a chunk list is read now, for the list
		// block delta takes later, as without HashLater.
		return s.send(&item{e: e})
	}
	it := &item{e: e, ready: make(chan struct{})}
	if err := s.send(it); err != nil {
		return err
	}
	d.acquire()
	select {
	case s.jobs <- hashJob{it: it, d: d, name: name}:
		return nil
	case <-s.ctx.Done():
		d.release()
		return s.ctx.Err()
	}
}

// hash fills in j.it.e's Hash, re-reading a file that changed underneath up
// to hashAttempts times. Identity is checked through the open descriptor
// (fstat, including ctime, which a rewrite cannot set back) and through the
// path (lstat) before and after reading. A file large enough for a chunk
// list gets one in the same read, handed to the ChunkStore with the entry
// it belongs to.
func (s *scanner) hash(j hashJob) {
	e := &j.it.e
	buf := <-s.buffers
	defer func() { s.buffers <- buf }()
	for range hashAttempts {
		sum, list, fresh, err := s.hashOnce(j.d.r, j.name, *e, buf)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				e.Problem = "disappeared while hashing"
			} else {
				e.Problem = "unable to read: " + errText(err)
			}
			return
		}
		if fresh == nil {
			e.Hash = sum
			if len(list.Chunks) > 0 {
				if err := s.fs.chunks.StoreChunks(*e, list); err != nil {
					// Only a cost: Chunks reads the file instead.
					s.fs.log.Warn("unable to keep a chunk list", "path", e.Path, "err", err)
				}
			}
			return
		}
		if fresh.Kind != tree.File || fresh.Problem != "" {
			break
		}
		// Try again against the new state.
		e.Size, e.Mtime, e.Mode, e.Ino = fresh.Size, fresh.Mtime, fresh.Mode, fresh.Ino
	}
	e.Hash = 0
	e.Problem = problemChanged
}

// hashOnce hashes the file if it still matches want, and chunks it in the
// same read when a ChunkStore wants its list (chunk.New tees every byte
// into the xxhash). It returns a non-nil fresh entry when the file turned
// out to differ from want (before or after reading), and an error when it
// cannot be read at all.
func (s *scanner) hashOnce(r *os.Root, name string, want tree.Entry, buf []byte) (uint64, chunk.List, *tree.Entry, error) {
	restat := func() (*tree.Entry, error) {
		fi, err := r.Lstat(name)
		if err != nil {
			return nil, err
		}
		e := entryOf(want.Path, fi)
		return &e, nil
	}
	file, err := r.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return 0, chunk.List{}, nil, err
	}
	defer file.Close()
	before, err := file.Stat()
	if err != nil {
		return 0, chunk.List{}, nil, err
	}
	if !sameFile(entryOf(want.Path, before), want) {
		fresh, err := restat()
		return 0, chunk.List{}, fresh, err
	}
	h := xxhash.New()
	var w io.Writer = h
	var c *chunk.Chunker
	if s.fs.chunks != nil {
		if c, _ = chunk.New(want.Size, h); c != nil {
			w = c
		}
	}
	// Only the size fstat gave is read: a file that grows or shrinks
	// meanwhile is caught by the fstat and lstat below, so reading on to
	// the end of file would cost a system call per file and find nothing.
	n, err := io.CopyBuffer(w, io.LimitReader(ctxReader{s.ctx, file}, want.Size), buf)
	if err != nil {
		return 0, chunk.List{}, nil, err
	}
	if s.fs.afterHash != nil {
		s.fs.afterHash(want.Path)
	}
	after, err := file.Stat()
	if err != nil {
		return 0, chunk.List{}, nil, err
	}
	fresh, err := restat()
	if err != nil {
		return 0, chunk.List{}, nil, err
	}
	if n != want.Size || !sameFile(*fresh, want) || !sameFile(entryOf(want.Path, after), want) || ctime(after) != ctime(before) {
		return 0, chunk.List{}, fresh, nil
	}
	var list chunk.List
	if c != nil {
		if list, err = c.List(); err != nil {
			// Read a size other than its stat's: it changed after all.
			return 0, chunk.List{}, fresh, nil
		}
	}
	return h.Sum64(), list, nil, nil
}

func sameFile(a, b tree.Entry) bool {
	return a.Kind == b.Kind && a.Problem == "" && a.Ino == b.Ino && a.Size == b.Size && a.Mtime == b.Mtime && a.Mode == b.Mode
}

// ctxReader stops a long read when the scan is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// unsyncable says why a name tree.ValidPath rejects cannot be synced,
// without repeating the name: the entry carries it, and a name that is not
// UTF-8 would make the text unsendable too.
func unsyncable(p string) string {
	switch {
	case !utf8.ValidString(p):
		return "it is not valid UTF-8"
	case strings.IndexByte(p, '\\') >= 0:
		return "it contains a backslash"
	case len(p) > tree.MaxPathLen:
		return "the path is longer than 4096 bytes"
	}
	return "it is not a valid path"
}

func kindOf(t fs.FileMode) tree.Kind {
	switch {
	case t&fs.ModeDir != 0:
		return tree.Dir
	case t&fs.ModeSymlink != 0:
		return tree.Symlink
	}
	return tree.File
}

// errText drops the path from an os error: the entry already names it, and
// the folder's absolute path would only leak into the other side's logs.
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err.Error()
	}
	return err.Error()
}
