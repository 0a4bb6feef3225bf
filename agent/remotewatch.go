package agent

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/tree"
)

// remoteKey prefixes the debouncer keys of the kept remote's notices; it
// is not a root index: ownChange tells them by the states the server
// reported (rStates), not by looking at a root.
const remoteKey = "r:"

// remoteNote is one notice of a remote watch, or its end.
type remoteNote struct {
	paths  []string
	states []tree.Entry // paths' states as the server saw them; nil if it does not tell
	rescan bool
	end    bool
	err    error
}

// remoteWatch runs Remote.Watch for a continuous job and hands its notices
// to the job goroutine.
type remoteWatch struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startRemoteWatch(ctx context.Context, rem Remote, exclude []string) (*remoteWatch, <-chan remoteNote) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan remoteNote, 16)
	w := &remoteWatch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		err := rem.Watch(ctx, exclude, func(paths []string, states []tree.Entry, rescan bool) {
			if len(states) != len(paths) {
				states = nil
			}
			select {
			case ch <- remoteNote{paths: paths, states: states, rescan: rescan}:
			case <-ctx.Done():
			}
		})
		if ctx.Err() != nil {
			return
		}
		select {
		case ch <- remoteNote{end: true, err: err}:
		case <-ctx.Done():
		}
	}()
	return w, ch
}

// stop ends the watch and waits for its goroutine.
func (w *remoteWatch) stop() {
	w.cancel()
	<-w.done
}

// keptRemote returns the job's kept remote, making it (and, for a
// continuous job, its watch) if the job has none: nil when the job does
// not keep one, and each pass opens its remote itself.
func (l *loop) keptRemote() Remote {
	r := l.r
	if l.kept != nil || r.a.opts.KeepRemote == nil || r.a.opts.OpenWith == nil || r.job.RemoteURL == nil {
		return l.kept
	}
	job := r.job
	job.Bandwidth = r.limits.Bandwidth()
	kept, err := r.a.opts.KeepRemote(OpenRequest{Job: job, DB: l.db, Limits: r.limits})
	if err != nil {
		r.log.Warn("unable to keep the remote open between passes; each pass connects on its own", "err", err)
		return nil
	}
	l.kept = kept
	if r.job.Mode == config.Continuous && !l.rNoWatch && !l.s.Stopped() {
		l.rw, l.rNotes = startRemoteWatch(l.ctx, kept, r.job.Exclude)
	}
	return kept
}

// dropRemote ends the remote watch and closes the kept remote; the next
// pass makes a new one.
func (l *loop) dropRemote() {
	if l.rw != nil {
		l.rw.stop()
		l.rw, l.rNotes = nil, nil
	}
	l.s = l.s.Disarmed()
	if l.kept != nil {
		if err := l.kept.Close(); err != nil {
			l.r.log.Warn("unable to close the remote", "err", err)
		}
		l.kept = nil
	}
}

// remoteNotice takes in a notice of the server's watch: a change asks for a
// pass once it has been still for cooloff, as a local one does, unless the
// server saw the path as the last pass left it (its own write). During a
// pass every change is kept, with the state it was reported in: the
// pass's end tells which were its own (dropOwnChanges).
func (l *loop) remoteNotice(n remoteNote) {
	r := l.r
	now := l.clock.Now()
	if n.end {
		l.rw.stop()
		l.rw, l.rNotes = nil, nil
		l.rNoWatch = true
		l.s = l.s.NoWatch(now, l.op == nil)
		r.log.Warn("the server cannot watch the remote folder; falling back to a pass every interval",
			"err", n.err, "interval", r.job.Interval)
		return
	}
	if n.rescan {
		// Armed: the server's changes come as notices, not by polling.
		l.s = l.s.Armed()
	}
	if l.s.Stopped() || l.rootMissing() {
		return
	}
	touch := func(key string) {
		if l.deb == nil {
			l.s = l.s.Ask()
			return
		}
		l.touch(key, now)
	}
	if n.rescan {
		// Changes made while it was not watching raised no notice.
		touch(remoteKey)
	}
	own := 0
	for i, p := range n.paths {
		key := remoteKey + filepath.ToSlash(p)
		l.noteState(key, n.states, i)
		if l.op == nil && l.ownChange(key) {
			own++
			continue
		}
		touch(key)
	}
	if own > 0 {
		// A change reported during the pass, in a state the pass had not
		// finished with, may be pending: the notices since say how it
		// was left.
		l.dropOwnChanges(own)
	}
}

// noteState remembers the state the server reported of the path of key
// (states[i]), for ownChange; a notice without states forgets it. Past
// maxTracked paths it keeps no more: ownChange then holds for none of
// them, and they ask for a pass.
func (l *loop) noteState(key string, states []tree.Entry, i int) {
	if states == nil {
		delete(l.rStates, key)
		return
	}
	if l.rStates == nil {
		l.rStates = make(map[string]tree.Entry)
	}
	if _, ok := l.rStates[key]; ok || len(l.rStates) < maxTracked {
		l.rStates[key] = states[i]
	}
}

// remoteOwn reports whether the remote notice key (a debouncer key) is of
// a path the last pass wrote, and the state the server last reported it
// in is the one the pass left.
func (l *loop) remoteOwn(key string) bool {
	rel, ok := strings.CutPrefix(key, remoteKey)
	if !ok {
		return false
	}
	s, ok := l.rStates[key]
	if !ok {
		return false
	}
	e, ok := l.own[rel]
	return ok && agreedState(e, s)
}

// dropOwnChanges forgets the pending changes when every one of them comes
// from the last pass's own writes, and says at Debug how many server
// notices were taken for its own writes: those pending, and told more
// that were never kept as changes.
func (l *loop) dropOwnChanges(told int) {
	n := told
	if l.deb != nil && l.deb.only(l.ownChange) {
		for key := range l.deb.last {
			if strings.HasPrefix(key, remoteKey) {
				n++
			}
		}
		l.clearChanges()
	}
	if n > 0 {
		l.r.log.Debug("server notices of the last pass's own writes ask for no pass", "notices", n)
	}
}
