package agent

import (
	"context"
	"path/filepath"

	"github.com/ferry-sync/ferry/config"
)

// remoteKey prefixes the debouncer keys of the kept remote's notices; it
// is not a root index, so the pass's own-write check never claims them.
const remoteKey = "r:"

// remoteNote is one notice of a remote watch, or its end.
type remoteNote struct {
	paths  []string
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
		err := rem.Watch(ctx, exclude, func(paths []string, rescan bool) {
			select {
			case ch <- remoteNote{paths: paths, rescan: rescan}:
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
// pass once it has been still for cooloff, as a local one does.
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
	for _, p := range n.paths {
		touch(remoteKey + filepath.ToSlash(p))
	}
}
