package agent

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/fsnotify/fsnotify"

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

// tracker keeps one watch on every directory below a job's watched roots
// (fsnotify is not recursive): it adds watches as directories appear and
// drops them when they go, and turns raw events into relative paths that
// matter to the job.
type tracker struct {
	w       watcher
	roots   []string // cleaned absolute paths
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
	return t
}

// addAll walks every root and watches each directory not yet watched.
func (t *tracker) addAll() {
	for _, r := range t.roots {
		t.addTree(r)
	}
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
	isDir := t.watched[p]
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
			isDir = true
			if rel == "" || !t.ignored(rel, true) {
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
	return string(rune('0'+i)) + ":" + rel, true
}

// isOverflow reports an error that means events were lost.
func isOverflow(err error) bool { return errors.Is(err, fsnotify.ErrEventOverflow) }
