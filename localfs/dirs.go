package localfs

import (
	"fmt"
	"io/fs"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-sync/ferry/endpoint"
)

// maxCachedDirs bounds the directories an FS keeps open between writes.
const maxCachedDirs = 128

// dirHandle is an open directory of the folder, shared by the operations
// below it and kept open between them, so that a write does not reopen
// every directory on its path and an fsync can serve many commits.
type dirHandle struct {
	r      *os.Root
	f      *os.File    // the directory itself, for the *at calls and fsync
	fi     fs.FileInfo // what lstat saw of it in parent; nil for the folder
	parent *dirHandle

	// Guarded by dirCache.mu.
	refs    int
	gone    bool // no longer in the cache; closed when refs drops to 0
	lastUse uint64

	// Commits in the directory share its fsyncs through ds.
	ds dirSyncer
}

func newDirHandle(c *dirCache, r *os.Root, f *os.File, fi fs.FileInfo, parent *dirHandle) *dirHandle {
	h := &dirHandle{r: r, f: f, fi: fi, parent: parent, refs: 1}
	h.ds.fsync = func() error { return c.fsync(f) }
	return h
}

func (h *dirHandle) closeFiles() {
	h.f.Close()
	h.r.Close()
}

// dirCache holds the open directories of an FS by path.
type dirCache struct {
	root  *dirHandle           // never evicted
	fsync func(*os.File) error // syncDir; a test seam, set before use
	stop  chan struct{}        // closed by close: commits stop waiting for directory syncs
	files fileSyncer           // the syncs of the files commits write

	mu     sync.Mutex
	m      map[string]*dirHandle
	tick   uint64
	closed bool
}

func newDirCache(r *os.Root) (*dirCache, error) {
	f, err := r.Open(".")
	if err != nil {
		return nil, err
	}
	c := &dirCache{fsync: syncDir, stop: make(chan struct{}), m: make(map[string]*dirHandle)}
	if syncfsKnown(f) {
		c.files.syncfs = func() error { return syncFS(f) }
	}
	c.root = newDirHandle(c, r, f, nil, nil)
	return c, nil
}

// get returns the directory at path (slash-separated, "" for the folder),
// reached one element at a time without following symlinks. A cached
// handle is used only if lstat of each element in its parent still finds
// the directory the handle holds, so a directory swapped for a symlink or
// another directory since it was opened is caught, as when opening afresh.
// The handle must be released.
func (c *dirCache) get(path string) (*dirHandle, error) {
	cur := c.root
	if path == "" {
		return cur, nil
	}
	prefix := ""
	for el := range strings.SplitSeq(path, "/") {
		if prefix == "" {
			prefix = el
		} else {
			prefix += "/" + el
		}
		next, err := c.child(cur, prefix, el)
		c.release(cur)
		if err != nil {
			return nil, err
		}
		cur = next
	}
	return cur, nil
}

func (c *dirCache) child(parent *dirHandle, prefix, name string) (*dirHandle, error) {
	fi, err := parent.r.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%q %w", name, errNotDir)
	}
	c.mu.Lock()
	if h := c.m[prefix]; h != nil && !c.closed {
		if h.parent == parent && os.SameFile(h.fi, fi) {
			h.refs++
			c.tick++
			h.lastUse = c.tick
			c.mu.Unlock()
			return h, nil
		}
		c.dropLocked(prefix, h)
	}
	c.mu.Unlock()

	sub, err := parent.r.OpenRoot(name)
	if err != nil {
		return nil, err
	}
	f, err := sub.Open(".")
	if err != nil {
		sub.Close()
		return nil, err
	}
	got, err := f.Stat()
	if err != nil || !os.SameFile(fi, got) {
		f.Close()
		sub.Close()
		return nil, fmt.Errorf("%q changed while it was opened: %w", name, errNotDir)
	}
	h := newDirHandle(c, sub, f, fi, parent)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		h.gone = true
		return h, nil
	}
	if old := c.m[prefix]; old != nil {
		c.dropLocked(prefix, old)
	}
	c.tick++
	h.lastUse = c.tick
	c.m[prefix] = h
	if len(c.m) > maxCachedDirs {
		c.evictLocked()
	}
	return h, nil
}

func (c *dirCache) dropLocked(prefix string, h *dirHandle) {
	delete(c.m, prefix)
	h.gone = true
	if h.refs == 0 {
		h.closeFiles()
	}
}

// evictLocked drops the least recently used directory nobody holds.
func (c *dirCache) evictLocked() {
	var lru string
	var lh *dirHandle
	for p, h := range c.m {
		if h.refs == 0 && (lh == nil || h.lastUse < lh.lastUse) {
			lru, lh = p, h
		}
	}
	if lh != nil {
		c.dropLocked(lru, lh)
	}
}

func (c *dirCache) release(h *dirHandle) {
	if h == c.root {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h.refs--
	if h.refs == 0 && h.gone {
		h.closeFiles()
	}
}

// close closes every cached directory not in use; those in use close when
// released. The folder's own root is closed by the caller.
func (c *dirCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	close(c.stop)
	for p, h := range c.m {
		c.dropLocked(p, h)
	}
	c.root.f.Close()
}

// spaceRefresh is how long a free-space reading is trusted (minus what
// this FS has since promised to writers) before statfs is asked again.
const spaceRefresh = time.Second

// spaceTracker answers "is there room for n more bytes" without a statfs
// per file. Reservations add up: each writer's is held until it commits or
// aborts, and what a writer has not yet written counts against every
// reading, fresh or not, so two files that only fit one at a time are not
// both started. A request that does not fit is always checked against a
// fresh reading.
type spaceTracker struct {
	now func() time.Time // nil: time.Now

	mu     sync.Mutex
	at     time.Time
	free   int64 // the last reading, less what released writers wrote since
	owed   int64 // sum of need-seen over active: kept, not summed per call, as thousands of small files may be in flight
	ok     bool
	active map[*reservation]struct{}
}

// reservation is the space promised to one writer.
type reservation struct {
	need    int64
	written atomic.Int64 // bytes of need the writer has written so far
	seen    int64        // written as of the last reading; guarded by spaceTracker.mu
}

// wrote records that the writer's data now reaches n bytes past what it
// started with.
func (r *reservation) wrote(n int64) {
	if r != nil {
		r.written.Store(min(n, r.need))
	}
}

// availLocked is the space neither on disk nor promised: the reading less
// what reservations have yet to write as of that reading.
func (t *spaceTracker) availLocked() int64 {
	return max(t.free-t.owed, 0)
}

// reserve reports the space available and, if need bytes fit in it, a
// reservation that must be released.
func (t *spaceTracker) reserve(need int64, read func() (endpoint.Space, error)) (int64, *reservation, error) {
	now := time.Now
	if t.now != nil {
		now = t.now
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.ok || now().Sub(t.at) >= spaceRefresh || t.availLocked() < need {
		sp, err := read()
		if err != nil {
			t.ok = false
			return 0, nil, err
		}
		t.at, t.free, t.ok = now(), int64(min(sp.Free, math.MaxInt64)), true
		t.owed = 0
		for r := range t.active {
			r.seen = r.written.Load()
			t.owed += r.need - r.seen
		}
	}
	avail := t.availLocked()
	if need > avail {
		return avail, nil, nil
	}
	r := &reservation{need: need}
	if t.active == nil {
		t.active = make(map[*reservation]struct{})
	}
	t.active[r] = struct{}{}
	t.owed += need
	return avail, r, nil
}

// release ends r. What it wrote since the last reading is on disk but not
// in that reading, so it comes off the cached free space.
func (t *spaceTracker) release(r *reservation) {
	if r == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.active[r]; !ok {
		return
	}
	delete(t.active, r)
	t.owed -= r.need - r.seen
	t.free -= r.written.Load() - r.seen
}

// openChild opens the directory name in r without following a symlink,
// checking that what was opened is what lstat saw.
func openChild(r *os.Root, name string) (*os.Root, error) {
	fi, err := r.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%q %w", name, errNotDir)
	}
	sub, err := r.OpenRoot(name)
	if err != nil {
		return nil, err
	}
	got, err := sub.Lstat(".")
	if err != nil || !os.SameFile(fi, got) {
		sub.Close()
		return nil, fmt.Errorf("%q changed while it was opened: %w", name, errNotDir)
	}
	return sub, nil
}
