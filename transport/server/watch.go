package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/internal/watch"
	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/tree"
)

// A Watch gathers changes for watchGather after the first one before it
// sends them, so a burst leaves in few frames (as many as its bytes need:
// control.Changed.Split); past watchMaxPaths pending paths it sends
// Rescan instead of names.
// Every watchRootCheck the folder itself is looked at: moved away,
// deleted, restored or mounted over, it raises no event that a watch
// below it could see, so only a look finds it back (as the agent does for
// its own folders).
const (
	watchGather    = 50 * time.Millisecond
	watchMaxPaths  = 4096
	watchRootCheck = 2 * time.Second
)

// noWatch is what a client is told when its folder cannot be watched: the
// cause and the limits to raise. The cause is kept as text, so that
// the error's code is CodeNoWatch whatever caused it.
func noWatch(dir string, cause error) error {
	if ae := (*watch.AddError)(nil); errors.As(cause, &ae) && ae.Limit() {
		return fmt.Errorf("%w: %s: the inotify watch limit is reached on the server (at %s); %s; the client polls meanwhile",
			control.ErrNoWatch, dir, ae.Dir, watch.LimitFix)
	}
	return fmt.Errorf("%w: %s: %s; if an inotify limit is reached, raise it on the server (sysctl fs.inotify.max_user_watches=1048576 fs.inotify.max_user_instances=1024); the client polls meanwhile",
		control.ErrNoWatch, dir, cause.Error())
}

// watch pushes the changes below the session's folder as Changed frames
// until the client closes the channel; with m.States, each path goes with
// its state as ep lstats it when the frame leaves.
func (s *session) watch(st *stream, ep endpoint.Endpoint, root *rootState, m control.Watch) error {
	var ex *tree.Matcher
	if len(m.Exclude) > 0 {
		var err error
		if ex, err = tree.NewMatcher(m.Exclude); err != nil {
			return st.reply(fmt.Errorf("unable to watch: %w", err), nil)
		}
	}
	if root.s3 {
		return st.reply(fmt.Errorf("%w: %s: %v; the client polls", control.ErrNoWatch, root.dir, errS3NoWatch), nil)
	}
	w, err := s.srv.cfg.Watcher()
	if err != nil {
		return st.reply(noWatch(root.dir, err), nil)
	}
	s.mu.Lock()
	partial := s.partial
	s.mu.Unlock()
	trk := watch.New(w, []string{root.dir}, ex, partial, s.log)
	defer trk.Close()
	trk.AddAll()
	if f := trk.Failed(); f != nil {
		return st.reply(noWatch(root.dir, f), nil)
	}
	if err := st.send(control.Changed{Rescan: true}); err != nil {
		return err
	}
	// The client ends the watch by closing the channel.
	gone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, st.ch)
		close(gone)
	}()
	pending := map[string]bool{}
	rescan := false
	var gather *time.Timer
	var due <-chan time.Time
	note := func() {
		if gather == nil {
			gather = time.NewTimer(watchGather)
			due = gather.C
		}
	}
	defer func() {
		if gather != nil {
			gather.Stop()
		}
	}()
	roots := time.NewTicker(watchRootCheck)
	defer roots.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return s.ctx.Err()
		case <-gone:
			return nil
		case <-roots.C:
			if len(trk.CheckRoots()) > 0 {
				// Back, or another folder now: it may hold anything.
				if f := trk.Failed(); f != nil {
					return st.reply(noWatch(root.dir, f), nil)
				}
				rescan = true
				note()
			}
		case ev, ok := <-w.Events():
			if !ok {
				return st.reply(noWatch(root.dir, fmt.Errorf("the watcher stopped")), nil)
			}
			key, ok := trk.Handle(ev)
			if f := trk.Failed(); f != nil {
				return st.reply(noWatch(root.dir, f), nil)
			}
			if !ok {
				continue
			}
			_, rel, _ := strings.Cut(key, ":")
			switch {
			case rel == "":
				rescan = true // the folder itself was replaced
			case len(pending) < watchMaxPaths:
				pending[rel] = true
			default:
				rescan = true
			}
			note()
		case err, ok := <-w.Errors():
			if !ok {
				return st.reply(noWatch(root.dir, fmt.Errorf("the watcher stopped")), nil)
			}
			if !watch.IsOverflow(err) {
				return st.reply(noWatch(root.dir, err), nil)
			}
			rescan = true
			note()
		case <-due:
			gather, due = nil, nil
			c := control.Changed{Rescan: rescan}
			if !rescan {
				for p := range pending {
					c.Paths = append(c.Paths, p)
				}
				slices.SortFunc(c.Paths, tree.Compare)
				if m.States {
					// The folder the session serves now (see current).
					s.mu.Lock()
					cur := s.ep
					s.mu.Unlock()
					if cur == nil {
						cur = ep
					}
					c.States = states(s.ctx, cur, c.Paths)
				}
			}
			clear(pending)
			rescan = false
			// Long paths with their states can be more than a frame
			// holds: the receiver would refuse it and watch again.
			for _, f := range c.Split(control.MaxFrame) {
				if err := st.send(f); err != nil {
					return err
				}
			}
		}
	}
}

// states lstats each of paths now, as a Changed frame's States tell them:
// Absent for a path that is gone, a Problem for one it could not look at.
func states(ctx context.Context, ep endpoint.Endpoint, paths []string) []tree.Entry {
	out := make([]tree.Entry, len(paths))
	for i, p := range paths {
		e, err := ep.Stat(ctx, p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			e = tree.Entry{Path: p}
		case err != nil:
			e = tree.Entry{Path: p, Problem: err.Error()}
		}
		e.Path, e.Hash, e.Ino = p, 0, 0
		out[i] = e
	}
	return out
}
