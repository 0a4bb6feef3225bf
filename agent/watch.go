package agent

import (
	"errors"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/tree"
)

// rootCheck is how often a continuous job looks at its roots: a mount or an
// unmount over a root raises no event at all, and a root that is gone has
// nothing left to watch until it comes back.
const rootCheck = 2 * time.Second

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
// the ancestor (Absent for a path it removed), looking each one up.
func (o *ownWrites) agreed(db *snapshot.DB) (map[string]tree.Entry, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.full || len(o.paths) == 0 {
		return nil, nil
	}
	paths := make([]string, 0, len(o.paths))
	for p := range o.paths {
		paths = append(paths, p)
	}
	return db.AncestorOf(paths)
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
	s := tree.Entry{Mode: fi.Mode().Perm(), Mtime: fi.ModTime().UnixNano()}
	switch t := fi.Mode().Type(); {
	case t == 0:
		s.Kind, s.Size = tree.File, fi.Size()
	case t == fs.ModeDir:
		s.Kind = tree.Dir
	case t == fs.ModeSymlink:
		target, err := os.Readlink(abs)
		if err != nil {
			return false
		}
		s.Kind, s.Target = tree.Symlink, target
	default:
		return false
	}
	return agreedState(e, s)
}

// agreedState reports whether s, a path's state as seen now (a server's
// notice tells it), is the agreed state e as a scan compares them: both
// absent, or the same kind with the same size, mtime and permissions for a
// file, permissions for a directory, target for a symlink.
func agreedState(e, s tree.Entry) bool {
	if s.Problem != "" || e.Kind != s.Kind {
		return false
	}
	switch e.Kind {
	case tree.Absent:
		return true
	case tree.File:
		return s.Size == e.Size && s.Mtime == e.Mtime && s.Mode.Perm() == e.Mode.Perm()
	case tree.Dir:
		return s.Mode.Perm() == e.Mode.Perm()
	case tree.Symlink:
		return s.Target == e.Target
	}
	return false
}
