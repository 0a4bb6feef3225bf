package agent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/internal/watch"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/tree"
)

// plannedPass is what one faked pass does: it records writes as agreed in
// the ancestor and reports each done, as the syncer does; with hold set,
// it then waits for the test until the channel is closed.
type plannedPass struct {
	writes []tree.Entry
	hold   chan struct{}
}

// planned is a pass that runs the plan the test queued, if any.
func planned(plans <-chan plannedPass, holding chan<- struct{}) passFunc {
	return func(ctx context.Context, h *harness, opts syncer.Options) (snapshot.PassRecord, error) {
		var p plannedPass
		select {
		case p = <-plans:
		default:
			return snapshot.PassRecord{}, nil
		}
		w := opts.DB.Writer()
		for _, e := range p.writes {
			var err error
			if e.Exists() {
				err = w.Record(e)
			} else {
				err = w.Forget(e.Path)
			}
			if err != nil {
				return snapshot.PassRecord{}, err
			}
		}
		if err := w.Flush(); err != nil {
			return snapshot.PassRecord{}, err
		}
		for _, e := range p.writes {
			opts.Observer(syncer.Event{FileDone: true, Path: e.Path})
		}
		if p.hold != nil {
			holding <- struct{}{}
			<-p.hold
		}
		return snapshot.PassRecord{}, nil
	}
}

// lines is a log the test reads.
type lines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// count returns how many lines hold s.
func (l *lines) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// logTo has every job log to w, debug lines too.
func logTo(w *lines) func(*Agent) {
	return func(a *Agent) {
		log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
		for _, r := range a.runners {
			r.log = log.With("job", r.job.Name)
		}
	}
}

// TestServerNoticesOfOwnWritesAskNoPass: a continuous job with a ferry://
// remote runs no pass for the server's notices of what its own pass wrote
// there (the server saw the path as the pass left it: same kind, size,
// mtime, permissions, or absent for a delete), whether they arrive after
// the pass or during it; a notice of an edit right after (another mtime)
// or a delete of the file the pass wrote asks for one as before.
func TestServerNoticesOfOwnWritesAskNoPass(t *testing.T) {
	rem := newFakeRemote()
	plans := make(chan plannedPass, 1)
	holding := make(chan struct{})
	var log lines
	h := newHarness(t, testConfig(t, ferryJob(t)), planned(plans, holding), keeping(rem), logTo(&log))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", log.b.String())
		}
	})
	h.nextPass()
	notify := <-rem.notifier
	notify(nil, nil, true) // armed
	waitNextPass(h, h.clock.Now().Add(time.Second))
	h.clock.Advance(time.Second)
	h.nextPass()
	rescan := func() time.Time { return h.clock.Now().Add(24 * time.Hour) }
	waitNextPass(h, rescan())

	// pass runs one pass for a change of the server's that tells no state,
	// doing plan.
	pass := func(plan plannedPass) {
		t.Helper()
		plans <- plan
		notify([]string{"trigger.txt"}, nil, false)
		waitNextPass(h, h.clock.Now().Add(time.Second))
		h.clock.Advance(time.Second)
		if plan.hold == nil {
			h.nextPass()
		}
	}
	const ownLine = "own writes ask for no pass"
	// own sends a notice the job must take for its own write.
	own := func(what string, paths []string, states []tree.Entry) {
		t.Helper()
		n := log.count(ownLine)
		notify(paths, states, false)
		waitFor(t, what+" taken for the pass's own write", func() bool { return log.count(ownLine) > n })
		if next := h.status("j").NextPass; !next.Equal(rescan()) {
			t.Fatalf("%s: next pass at %s, want the rescan at %s: it asked for a pass", what, next, rescan())
		}
	}
	// asks sends a notice that must ask for a pass, and runs it.
	asks := func(what string, paths []string, states []tree.Entry, plan plannedPass) {
		t.Helper()
		plans <- plan
		notify(paths, states, false)
		due := h.clock.Now().Add(time.Second)
		waitNextPass(h, due)
		h.clock.Advance(time.Second)
		if p := h.nextPass(); !p.start.Equal(due) {
			t.Fatalf("%s: pass at %s, want %s", what, p.start, due)
		}
		waitNextPass(h, rescan())
	}

	mtime := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano()
	x := tree.Entry{Path: "d/x.txt", Kind: tree.File, Size: 5, Mtime: mtime, Mode: 0o644}
	d := tree.Entry{Path: "d", Kind: tree.Dir, Mode: 0o755}
	pass(plannedPass{writes: []tree.Entry{d, x}})
	waitNextPass(h, rescan())
	own("the new file and its directory", []string{"d", "d/x.txt"}, []tree.Entry{d, x})

	// An edit of the same size right after: only the mtime differs. The
	// pass brings it back and agrees on it.
	edited := x
	edited.Mtime++
	asks("an edit right after the pass", []string{"d/x.txt"}, []tree.Entry{edited}, plannedPass{writes: []tree.Entry{edited}})
	// Its own notice of that, then one of a delete right after.
	own("the edit as the pass agreed on it", []string{"d/x.txt"}, []tree.Entry{edited})
	gone := tree.Entry{Path: "d/x.txt"}
	asks("a delete right after the pass", []string{"d/x.txt"}, []tree.Entry{gone}, plannedPass{writes: []tree.Entry{gone}})
	// The pass deleted it on the other side too: the absent file is as
	// it left it.
	own("the delete as the pass agreed on it", []string{"d/x.txt"}, []tree.Entry{gone})
	// A state the server could not read is not the pass's.
	asks("a path the server could not look at", []string{"d/x.txt"}, []tree.Entry{{Path: "d/x.txt", Problem: "permission denied"}}, plannedPass{})

	// Notices during the pass: one in the state the pass left, one in a
	// state it had not finished with (its mtime not yet set); the latter
	// asks for a pass until a notice after the pass says how it was left.
	y := tree.Entry{Path: "y.txt", Kind: tree.File, Size: 1, Mtime: mtime, Mode: 0o600}
	z := tree.Entry{Path: "z.txt", Kind: tree.File, Size: 2, Mtime: mtime, Mode: 0o600}
	hold := make(chan struct{})
	pass(plannedPass{writes: []tree.Entry{y, z}, hold: hold})
	<-holding
	notify([]string{"y.txt"}, []tree.Entry{y}, false)
	waitNextPass(h, h.clock.Now().Add(time.Second)) // taken in during the pass
	close(hold)
	h.nextPass()
	waitNextPass(h, rescan()) // its own write: no pass after it

	hold = make(chan struct{})
	pass(plannedPass{writes: []tree.Entry{y, z}, hold: hold})
	<-holding
	early := z
	early.Mtime = time.Now().UnixNano()
	notify([]string{"z.txt"}, []tree.Entry{early}, false)
	waitNextPass(h, h.clock.Now().Add(time.Second))
	close(hold)
	h.nextPass()
	waitNextPass(h, h.clock.Now().Add(time.Second)) // pending: not as the pass left it
	own("the file as the pass left it, after the pass", []string{"z.txt"}, []tree.Entry{z})

	// A server that tells no states: every notice asks for a pass.
	asks("a notice without states", []string{"z.txt"}, nil, plannedPass{})
	if n := log.count(ownLine); n != 5 {
		t.Fatalf("%d debug lines of own notices, want 5:\n%s", n, fmt.Sprint(log.b.String()))
	}
}

// TestServerNoticesOfOwnWritesAskNoPassWithoutLocalWatcher: a continuous
// job that has no local watcher (the inotify instance limit) still takes
// the server's notices of what its own pass wrote there for its own, as
// one with a watcher does: they ask for no pass.
func TestServerNoticesOfOwnWritesAskNoPassWithoutLocalWatcher(t *testing.T) {
	rem := newFakeRemote()
	plans := make(chan plannedPass, 1)
	var log lines
	noWatcher := func(a *Agent) {
		a.newWatcher = func() (watch.Watcher, error) {
			return nil, fmt.Errorf("unable to make a watcher: %w", syscall.EMFILE)
		}
	}
	h := newHarness(t, testConfig(t, ferryJob(t)), planned(plans, nil), keeping(rem), logTo(&log), noWatcher)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", log.b.String())
		}
	})
	h.nextPass()
	notify := <-rem.notifier
	notify(nil, nil, true) // armed
	waitNextPass(h, h.clock.Now().Add(time.Second))
	h.clock.Advance(time.Second)
	h.nextPass()
	poll := h.clock.Now().Add(time.Hour)
	waitNextPass(h, poll)

	mtime := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano()
	x := tree.Entry{Path: "x.txt", Kind: tree.File, Size: 5, Mtime: mtime, Mode: 0o644}
	plans <- plannedPass{writes: []tree.Entry{x}}
	notify([]string{"trigger.txt"}, nil, false)
	waitNextPass(h, h.clock.Now().Add(time.Second))
	h.clock.Advance(time.Second)
	h.nextPass()
	waitNextPass(h, poll)

	const ownLine = "own writes ask for no pass"
	n := log.count(ownLine)
	notify([]string{"x.txt"}, []tree.Entry{x}, false)
	waitFor(t, "the pass's own write taken for its own", func() bool { return log.count(ownLine) > n })
	if next := h.status("j").NextPass; !next.Equal(poll) {
		t.Fatalf("next pass at %s, want the poll at %s: the pass's own write asked for a pass", next, poll)
	}
}
