package watch

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/fsnotify/fsnotify"

	"github.com/ferry-sync/ferry/tree"
	"github.com/ferry-sync/ferry/versions"
)

// Watcher is the part of fsnotify a tracker uses; tests substitute one to
// inject errors such as an event overflow.
type Watcher interface {
	Add(name string) error
	Remove(name string) error
	Events() <-chan fsnotify.Event
	Errors() <-chan error
	Close() error
}

type fsWatcher struct{ w *fsnotify.Watcher }

// NewFS returns an fsnotify watcher.
func NewFS() (Watcher, error) {
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

// Tracker keeps one watch on every directory below a job's watched roots
// (fsnotify is not recursive): it adds watches as directories appear and
// drops them when they go, and turns raw events into relative paths that
// matter to the job.
//
// Watches belong to inodes, not paths: once a root is moved away, deleted
// or covered by a mount, its watches see the old directory. So the tracker
// also remembers which directory each root was when it was armed, and
// re-arms a root that is now a different one.
type Tracker struct {
	w       Watcher
	roots   []string      // cleaned absolute paths
	armed   []os.FileInfo // per root: the directory watched; nil while it is missing
	gone    []bool        // per root: reported missing and not back yet
	exclude *tree.Matcher
	partial string
	log     *slog.Logger
	watched map[string]bool
	// unwatched holds the directories that could not be watched (nothing
	// below one is tried), until a walk watches them or they go; failed
	// is one of them, nil when there is none.
	unwatched map[string]*AddError
	failed    *AddError
}

// AddError is a directory that could not be watched.
type AddError struct {
	Dir string
	Err error
}

// Limit reports whether the inotify watch limit was the cause.
func (e *AddError) Limit() bool { return errors.Is(e.Err, syscall.ENOSPC) }

// LimitFix is how to raise the inotify watch limit.
const LimitFix = "raise it with: sysctl fs.inotify.max_user_watches=1048576 (and set it in /etc/sysctl.d to keep it)"

// InstancesFix is how to raise the inotify instance limit, which a new
// watcher meets as EMFILE (see IsInstanceLimit).
const InstancesFix = "raise it with: sysctl fs.inotify.max_user_instances=1024 (and set it in /etc/sysctl.d to keep it)"

// IsInstanceLimit reports whether NewFS failed at the inotify instance
// limit (or at the process's limit of open files: both are EMFILE).
func IsInstanceLimit(err error) bool { return errors.Is(err, syscall.EMFILE) }

// Fix says what to do about the failure: LimitFix at the watch limit,
// nothing otherwise.
func (e *AddError) Fix() string {
	if e.Limit() {
		return LimitFix
	}
	return ""
}

func (e *AddError) Error() string {
	if e.Limit() {
		return "unable to watch " + e.Dir + ": the inotify watch limit is reached; " + LimitFix
	}
	return "unable to watch " + e.Dir + ": " + e.Err.Error()
}

func (e *AddError) Unwrap() error { return e.Err }

// Failed returns a directory that could not be watched and still is not
// (the first one, until it is watched or goes), nil if every one is.
func (t *Tracker) Failed() *AddError { return t.failed }

// Unwatched is how many directories could not be watched and still are
// not; what is below them is not watched either.
func (t *Tracker) Unwatched() int { return len(t.unwatched) }

// unwatch records that dir could not be watched.
func (t *Tracker) unwatch(ae *AddError) {
	t.unwatched[ae.Dir] = ae
	if t.failed == nil {
		t.failed = ae
	}
}

// rewatched forgets that dir could not be watched (it is watched now, or
// gone).
func (t *Tracker) rewatched(dir string) {
	if _, ok := t.unwatched[dir]; !ok {
		return
	}
	delete(t.unwatched, dir)
	if t.failed == nil || t.failed.Dir != dir {
		return
	}
	// Another one stands for them, the first in path order so that
	// what is reported does not depend on map order.
	t.failed = nil
	for _, ae := range t.unwatched {
		if t.failed == nil || ae.Dir < t.failed.Dir {
			t.failed = ae
		}
	}
}

// Roots are the tracked roots, cleaned, in the order given to New.
func (t *Tracker) Roots() []string { return t.roots }

// Close releases the watcher.
func (t *Tracker) Close() error { return t.w.Close() }

// New tracks roots (none watched until AddAll) through w; exclude and
// partial say which paths never matter.
func New(w Watcher, roots []string, exclude *tree.Matcher, partial string, log *slog.Logger) *Tracker {
	t := &Tracker{w: w, exclude: exclude, partial: partial, log: log, watched: make(map[string]bool),
		unwatched: make(map[string]*AddError)}
	for _, r := range roots {
		t.roots = append(t.roots, filepath.Clean(r))
	}
	t.armed = make([]os.FileInfo, len(t.roots))
	t.gone = make([]bool, len(t.roots))
	return t
}

// AddAll re-arms every root that changed and watches each directory not
// yet watched, trying again those that could not be watched (the limit
// may have been raised, or watches freed). It reports the roots it
// re-armed.
func (t *Tracker) AddAll() []int {
	// The walk finds again those that still cannot be watched; those
	// gone meanwhile raised no event if their parent was not watched.
	clear(t.unwatched)
	t.failed = nil
	rearmed := t.CheckRoots()
	for i, r := range t.roots {
		if t.armed[i] != nil && !slices.Contains(rearmed, i) {
			t.addTree(r)
		}
	}
	return rearmed
}

// CheckRoots re-arms every root that is not the directory it watches (gone,
// back, replaced, mounted over or unmounted) and reports those it re-armed
// onto a directory.
func (t *Tracker) CheckRoots() []int {
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
func (t *Tracker) rootChanged(i int) bool {
	fi, err := os.Stat(t.roots[i])
	if err != nil || !fi.IsDir() {
		return t.armed[i] != nil
	}
	return t.armed[i] == nil || !os.SameFile(t.armed[i], fi)
}

// rearm drops root i's watches and watches the directory now at its path,
// if there is one. It reports whether root i is armed.
func (t *Tracker) rearm(i int) bool {
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

// Missing returns the first root that is gone.
func (t *Tracker) Missing() (int, bool) {
	for i, fi := range t.armed {
		if fi == nil {
			return i, true
		}
	}
	return 0, false
}

// addTree watches dir and every directory below it. A directory that
// cannot be watched (inotify limit, permissions) is recorded for Failed and
// Unwatched, and logged at debug level only: at the limit every directory
// left fails, and the tracker's owner says it once.
func (t *Tracker) addTree(dir string) {
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
			ae := &AddError{Dir: p, Err: err}
			t.unwatch(ae)
			t.log.Debug("unable to watch directory", "dir", p, "err", ae)
			return filepath.SkipDir
		}
		t.rewatched(p)
		t.watched[p] = true
		return nil
	})
}

// drop forgets the watches on dir and below (it was removed or renamed
// away; the kernel has already dropped them, so Remove errors are
// expected), and those below that could not be watched.
func (t *Tracker) drop(dir string) {
	below := func(p string) bool { return p == dir || strings.HasPrefix(p, dir+string(filepath.Separator)) }
	for p := range t.watched {
		if below(p) {
			_ = t.w.Remove(p)
			delete(t.watched, p)
		}
	}
	for p := range t.unwatched {
		if below(p) {
			t.rewatched(p)
		}
	}
}

// relative maps an absolute event path to its root index and relative
// slash path ("" for the root itself).
func (t *Tracker) relative(p string) (int, string, bool) {
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
func (t *Tracker) ignored(rel string, isDir bool) bool {
	if tree.IsTemp(tree.Base(rel), t.partial) || versions.IsStorePath(rel) {
		return true
	}
	return t.exclude != nil && t.exclude.Match(rel, isDir)
}

// Handle updates the watches for ev and returns the changed path (keyed by
// root index so two roots' identical paths stay distinct) and whether the
// change matters.
func (t *Tracker) Handle(ev fsnotify.Event) (string, bool) {
	p := filepath.Clean(ev.Name)
	i, rel, ok := t.relative(p)
	if !ok {
		return "", false
	}
	if rel == "" && ev.Op&(fsnotify.Create|fsnotify.Remove|fsnotify.Rename) != 0 {
		// The root itself went, came, or was replaced: whatever is at
		// its path now is what the job syncs.
		t.rearm(i)
		return RootKey(i), true
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
		if _, unwatched := t.unwatched[p]; isDir || unwatched {
			isDir = true
			t.drop(p)
		}
	}
	if rel != "" && t.ignored(rel, isDir) {
		return "", false
	}
	return RootKey(i) + rel, true
}

// RootKey prefixes the debouncer keys of root i's paths, so two roots'
// identical paths stay distinct.
func RootKey(i int) string { return string(rune('0'+i)) + ":" }

// IsOverflow reports an error that means events were lost.
func IsOverflow(err error) bool { return errors.Is(err, fsnotify.ErrEventOverflow) }
