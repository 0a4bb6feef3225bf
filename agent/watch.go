package agent

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/tree"
)

// watcher is the part of fsnotify a continuous job uses; tests substitute
// one to inject errors such as an event overflow.
type watcher interface {
	Add(name string) error
	Remove(name string) error
	Events() <-chan fsnotify.Event
	Errors() <-chan error
	Close() error
}

type fsWatcher struct{ w *fsnotify.Watcher }

func newFSWatcher() (watcher, error) {
	// A larger buffer rides out bursts while the job goroutine is walking
	// a new directory.
	w, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		return nil, err
	}
	return fsWatcher{w}, nil
}

func (f fsWatcher) Add(name string) error         { return f.w.Add(name) }
func (f fsWatcher) Remove(name string) error      { return f.w.Remove(name) }
func (f fsWatcher) Events() <-chan fsnotify.Event { return f.w.Events }
func (f fsWatcher) Errors() <-chan error          { return f.w.Errors }
func (f fsWatcher) Close() error                  { return f.w.Close() }

// rootCheck is how often a continuous job looks at its roots: a mount or an
// unmount over a root raises no event at all, and a root that is gone has
// nothing left to watch until it comes back.
const rootCheck = 2 * time.Second

// tracker keeps one watch on every directory below a job's watched roots
// (fsnotify is not recursive): it adds watches as directories appear and
// drops them when they go, and turns raw events into relative paths that
// matter to the job.
//
// Watches belong to inodes, not paths: once a root is moved away, deleted
// or covered by a mount, its watches see the old directory. So the tracker
// also remembers which directory each root was when it was armed, and
// re-arms a root that is now a different one.
type tracker struct {
	w       watcher
	roots   []string      // cleaned absolute paths
	armed   []os.FileInfo // per root: the directory watched; nil while it is missing
	gone    []bool        // per root: reported missing and not back yet
	exclude *tree.Matcher
	partial string
	log     *slog.Logger
	watched map[string]bool
}

func newTracker(w watcher, roots []string, exclude *tree.Matcher, partial string, log *slog.Logger) *tracker {
	t := &tracker{w: w, exclude: exclude, partial: partial, log: log, watched: make(map[string]bool)}
	for _, r := range roots {
		t.roots = append(t.roots, filepath.Clean(r))
	}
	t.armed = make([]os.FileInfo, len(t.roots))
	t.gone = make([]bool, len(t.roots))
	return t
}

// addAll re-arms every root that changed and watches each directory not
// yet watched. It reports the roots it re-armed.
func (t *tracker) addAll() []int {
	rearmed := t.checkRoots()
	for i, r := range t.roots {
		if t.armed[i] != nil && !slices.Contains(rearmed, i) {
			t.addTree(r)
		}
	}
	return rearmed
}

// checkRoots re-arms every root that is not the directory it watches (gone,
// back, replaced, mounted over or unmounted) and reports those it re-armed
// onto a directory.
func (t *tracker) checkRoots() []int {
	var rearmed []int
	for i := range t.roots {
		if t.rootChanged(i) && t.rearm(i) {
			rearmed = append(rearmed, i)
		}
	}
	return rearmed
}

// rootChanged reports whether root i is not (or no longer) the directory
// it was armed on.
func (t *tracker) rootChanged(i int) bool {
	fi, err := os.Stat(t.roots[i])
	if err != nil || !fi.IsDir() {
		return t.armed[i] != nil
	}
	return t.armed[i] == nil || !os.SameFile(t.armed[i], fi)
}

// rearm drops root i's watches and watches the directory now at its path,
// if there is one. It reports whether root i is armed.
func (t *tracker) rearm(i int) bool {
	r := t.roots[i]
	was := t.armed[i] != nil
	t.drop(r)
	t.armed[i] = nil
	// Stat before the walk: if the root is replaced in between, the
	// next check sees a directory other than the one recorded.
	fi, err := os.Stat(r)
	if err != nil || !fi.IsDir() {
		if !t.gone[i] {
			t.gone[i] = true
			t.log.Warn("watched folder is missing; the job waits for it to come back", "folder", r)
		}
		return false
	}
	t.armed[i] = fi
	switch {
	case t.gone[i]:
		t.gone[i] = false
		t.log.Info("watched folder is back; watching it again", "folder", r)
	case was:
		t.log.Info("watched folder was replaced; watching the new one", "folder", r)
	}
	t.addTree(r)
	return true
}

// missing returns the first root that is gone.
func (t *tracker) missing() (int, bool) {
	for i, fi := range t.armed {
		if fi == nil {
			return i, true
		}
	}
	return 0, false
}

// addTree watches dir and every directory below it. A directory that
// cannot be watched (inotify limit, permissions) is logged: the safety
// rescan still catches its changes.
func (t *tracker) addTree(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			// Gone already, or unreadable: the pass reports it.
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		if _, rel, ok := t.relative(p); ok && rel != "" && t.ignored(rel, true) {
			return filepath.SkipDir
		}
		if t.watched[p] {
			return nil
		}
		if err := t.w.Add(p); err != nil {
			t.log.Warn("unable to watch directory; its changes are picked up by the periodic rescan",
				"dir", p, "err", err)
			return filepath.SkipDir
		}
		t.watched[p] = true
		return nil
	})
}

// drop forgets the watches on dir and below (it was removed or renamed
// away; the kernel has already dropped them, so Remove errors are expected).
func (t *tracker) drop(dir string) {
	for p := range t.watched {
		if p == dir || strings.HasPrefix(p, dir+string(filepath.Separator)) {
			_ = t.w.Remove(p)
			delete(t.watched, p)
		}
	}
}

// relative maps an absolute event path to its root index and relative
// slash path ("" for the root itself).
func (t *tracker) relative(p string) (int, string, bool) {
	for i, r := range t.roots {
		if p == r {
			return i, "", true
		}
		if strings.HasPrefix(p, r+string(filepath.Separator)) {
			return i, filepath.ToSlash(p[len(r)+1:]), true
		}
	}
	return 0, "", false
}

// ignored reports paths whose changes never need a pass: ferry's own
// in-flight files and excluded paths.
func (t *tracker) ignored(rel string, isDir bool) bool {
	if tree.IsTemp(tree.Base(rel), t.partial) {
		return true
	}
	return t.exclude != nil && t.exclude.Match(rel, isDir)
}

// handle updates the watches for ev and returns the changed path (keyed by
// root index so two roots' identical paths stay distinct) and whether the
// change matters.
func (t *tracker) handle(ev fsnotify.Event) (string, bool) {
	p := filepath.Clean(ev.Name)
	i, rel, ok := t.relative(p)
	if !ok {
		return "", false
	}
	if rel == "" && ev.Op&(fsnotify.Create|fsnotify.Remove|fsnotify.Rename) != 0 {
		// The root itself went, came, or was replaced: whatever is at
		// its path now is what the job syncs.
		t.rearm(i)
		return rootKey(i), true
	}
	isDir := t.watched[p]
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
			isDir = true
			if !t.ignored(rel, true) {
				// Files may already be inside (mkdir -p, mv of a tree):
				// the pass scans them; the watch catches later changes.
				t.addTree(p)
			}
		}
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		if isDir {
			t.drop(p)
		}
	}
	if rel != "" && t.ignored(rel, isDir) {
		return "", false
	}
	return rootKey(i) + rel, true
}

// rootKey prefixes the debouncer keys of root i's paths, so two roots'
// identical paths stay distinct.
func rootKey(i int) string { return string(rune('0'+i)) + ":" }

// isOverflow reports an error that means events were lost.
func isOverflow(err error) bool { return errors.Is(err, fsnotify.ErrEventOverflow) }

// ownWrites collects the paths a pass reports done without error, so the
// loop can tell the events raised by the pass's own writes from a user's.
// The syncer calls observers from several goroutines.
type ownWrites struct {
	mu    sync.Mutex
	paths map[string]bool
	full  bool // past maxTracked: this pass's events are not told apart
}

func (o *ownWrites) observe(ev syncer.Event) {
	if !ev.FileDone || ev.Err != nil || ev.Path == "" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.full:
	case len(o.paths) >= maxTracked:
		o.full, o.paths = true, nil
	default:
		if o.paths == nil {
			o.paths = make(map[string]bool)
		}
		o.paths[ev.Path] = true
	}
}

// agreed returns, for each path written, the state the pass recorded in
// the ancestor (Absent for a path it removed). It reads the whole ancestor
// once, which costs less than the pass that wrote.
func (o *ownWrites) agreed(db *snapshot.DB) (map[string]tree.Entry, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.full || len(o.paths) == 0 {
		return nil, nil
	}
	out := make(map[string]tree.Entry, len(o.paths))
	for p := range o.paths {
		out[p] = tree.Entry{Path: p}
	}
	err := db.EachAncestor(func(e tree.Entry) error {
		if _, ok := out[e.Path]; ok {
			out[e.Path] = e
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// inAgreedState reports whether the path at abs is still exactly in the
// agreed state e, as a scan sees it (kind, size, mtime, permissions, link
// target), and is still the file or directory was (what the pass left
// there): an event for it then asks for nothing, as a pass would find no
// change there. A user's edit changes the mtime; a directory or file moved
// into its place is another inode.
func inAgreedState(abs string, e tree.Entry, was fs.FileInfo) bool {
	fi, err := os.Lstat(abs)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist) && !e.Exists()
	}
	if was == nil || !os.SameFile(was, fi) {
		return false
	}
	switch t := fi.Mode().Type(); {
	case t == 0:
		return e.Kind == tree.File && fi.Size() == e.Size && fi.ModTime().UnixNano() == e.Mtime &&
			fi.Mode().Perm() == e.Mode.Perm()
	case t == fs.ModeDir:
		return e.Kind == tree.Dir && fi.Mode().Perm() == e.Mode.Perm()
	case t == fs.ModeSymlink:
		target, err := os.Readlink(abs)
		return err == nil && e.Kind == tree.Symlink && target == e.Target
	}
	return false
}
