package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/robfig/cron/v3"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/conflict"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/halt"
	"github.com/ferry-sync/ferry/internal/watch"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/tree"

	"github.com/ferry-sync/ferry/versions"
)

type cmdKind int

const (
	cmdStop cmdKind = iota
	cmdResume
	cmdSyncNow
	cmdReset
	cmdConflicts
	cmdResolve
	cmdSetBandwidth
)

type command struct {
	kind  cmdKind
	sync  SyncNowOptions // cmdSyncNow
	paths []string
	bw    config.Bandwidth
	rules []bwRule // parsed bw.Schedule, when bw.Schedule is not nil
	reply chan reply
}

type reply struct {
	err       error
	conflicts []conflict.Record
}

// Causes given to a running operation's context.
var (
	errStopping  = errors.New("job stopped")
	errResetting = errors.New("job reset")
)

// runner owns one job. Its goroutine (run) owns the scheduling state and
// the snapshot database; the mutex guards only what Jobs reads, and no
// other lock is ever taken while it is held, nor it while Agent.mu is.
type runner struct {
	a       *Agent
	job     config.Job
	dbPath  string
	limits  *Limits
	rules   []bwRule
	sched   cron.Schedule // mode schedule
	exclude *tree.Matcher
	log     *slog.Logger
	cmds    chan command
	done    chan struct{}

	// Set under Agent.mu before the goroutine starts.
	cancel       context.CancelFunc
	started      bool
	startStopped bool

	// stopped mirrors the loop's flag for Reload, which reads it while
	// holding Agent.mu and so takes no lock of the job's.
	stopped atomic.Bool

	mu     sync.Mutex
	status JobStatus
	prog   progress
	// link is the kept remote while a pass runs on it, for the live
	// figures of its data sessions.
	link Remote
}

func newRunner(a *Agent, job config.Job, dbPath string) (*runner, error) {
	r := &runner{
		a:      a,
		job:    job,
		dbPath: dbPath,
		log:    a.log.With("job", job.Name),
		cmds:   make(chan command),
		done:   make(chan struct{}),
	}
	var err error
	if r.rules, err = parseBWRules(job.Bandwidth.Schedule); err != nil {
		return nil, err
	}
	if job.Mode == config.Schedule {
		if job.Schedule == "" {
			return nil, errors.New("mode is schedule but no schedule is set")
		}
		if r.sched, err = parseCron(job.Schedule); err != nil {
			return nil, err
		}
	}
	if len(job.Exclude) > 0 {
		if r.exclude, err = tree.NewMatcher(job.Exclude); err != nil {
			return nil, fmt.Errorf("unable to parse exclude patterns: %w", err)
		}
	}
	r.limits = NewLimits(job.Bandwidth)
	r.status = JobStatus{
		Name:      job.Name,
		Local:     job.Local,
		Remote:    job.Remote,
		Direction: job.Direction,
		Mode:      job.Mode,
		State:     Idle,
		Sessions:  max(job.Sessions, 1),
	}
	r.prog.reset()
	return r, nil
}

// call hands c to the job goroutine and waits for its reply.
func (r *runner) call(c command) reply {
	c.reply = make(chan reply, 1)
	gone := reply{err: fmt.Errorf("unable to reach job %q: %w", r.job.Name, ErrNotRunning)}
	select {
	case r.cmds <- c:
	case <-r.done:
		return gone
	}
	select {
	case rep := <-c.reply:
		return rep
	case <-r.done:
		select {
		case rep := <-c.reply:
			return rep
		default:
			return gone
		}
	}
}

func (r *runner) isStopped() bool { return r.stopped.Load() }

// severalServers reports whether the job's remote URL names several
// servers: status then says which one it is on.
func (r *runner) severalServers() bool {
	return r.job.RemoteURL != nil && len(r.job.RemoteURL.Servers()) > 1
}

func (r *runner) snapshot(now time.Time) JobStatus {
	r.mu.Lock()
	st := r.status
	st.Progress, st.Transfers = r.prog.snapshot(now)
	if st.Last != nil {
		last := *st.Last
		st.Last = &last
	}
	link := r.link
	r.mu.Unlock()
	if link != nil && r.severalServers() {
		if s := link.Server(); s != "" {
			st.Server = s
		}
	}
	st.Bandwidth = r.limits.Bandwidth()
	if st.State == Transferring {
		if n, ok := r.a.slots.Ahead(r.job.Name); ok {
			st.State, st.Ahead = Queued, n
		}
	}
	// The policy the transport runs each file under, and the running data
	// session's figures in the file's direction when there is one.
	var links [2]*endpoint.Link
	for i := range st.Transfers {
		t := &st.Transfers[i]
		t.Policy = string(st.Bandwidth.Policy)
		t.TargetRate = float64(st.Bandwidth.TargetRate)
		t.MinRate = float64(st.Bandwidth.MinRate)
		if t.TargetRate == 0 {
			t.TargetRate = float64(st.Bandwidth.Upload)
			if t.download {
				t.TargetRate = float64(st.Bandwidth.Download)
			}
		}
		if link == nil {
			continue
		}
		d := 0
		if t.download {
			d = 1
		}
		if links[d] == nil {
			l, ok := link.Link(t.download)
			if !ok {
				continue
			}
			links[d] = &l
		}
		l := links[d]
		t.RTT, t.RetransmitPct = l.RTT, 100*l.Retransmitted
		if l.Target > 0 {
			t.TargetRate = l.Target
		}
		if l.Min > 0 {
			t.MinRate = l.Min
		}
	}
	return st
}

// history returns the job's rate in each of the last HistoryLen seconds.
func (r *runner) history(now time.Time) RateHistory {
	r.mu.Lock()
	defer r.mu.Unlock()
	return RateHistory{Job: r.job.Name, End: now.Truncate(time.Second), Rates: r.prog.hist.rates(now)}
}

// observe is the syncer.Observer of this job's passes.
func (r *runner) observe(ev syncer.Event) {
	now := r.a.clock.Now()
	r.mu.Lock()
	r.prog.observe(ev, now)
	if r.status.State == Scanning || r.status.State == Transferring {
		switch ev.Phase {
		case syncer.PhaseScanning:
			r.status.State = Scanning
		case syncer.PhaseTransferring:
			r.status.State = Transferring
		}
	}
	r.mu.Unlock()
	if obs := r.a.opts.Observer; obs != nil {
		obs(r.job.Name, ev)
	}
}

// opKind is what a running operation is.
type opKind int

const (
	opPass opKind = iota
	opResolve
)

type operation struct {
	kind   opKind
	ctx    context.Context
	cancel context.CancelCauseFunc
	cmd    command // opResolve
}

type outgoing struct {
	to  chan reply
	rep reply
}

type opResult struct {
	rec    snapshot.PassRecord
	err    error
	own    map[string]tree.Entry // continuous: the paths the pass wrote, as agreed
	scoped bool                  // the pass was asked to look at some paths only
}

// loop is the state the job goroutine owns.
type loop struct {
	r      *runner
	ctx    context.Context // the job's
	clock  Clock
	db     *snapshot.DB
	dbErr  error
	dbWait time.Time // when to retry opening the database

	s    schedule   // when the next pass runs
	halt *halt.Halt // why the last pass halted, nil when it did not

	op      *operation
	opDone  chan opResult
	waiters []chan reply // Stop calls waiting for op to end
	outbox  []outgoing   // replies sent once the status shows their effect
	resets  []chan reply
	solves  []command
	// afterReset marks the passes after a reset, until one succeeds:
	// what they replace or delete is kept with reason reset.
	afterReset bool
	// within is what the pass about to begin is scoped to (nil: the whole
	// tree); wholeNext, set when a pass fails, halts or is interrupted,
	// makes the next one whole, as the changes a failed scoped pass was
	// for are no longer pending.
	within    []string
	wholeNext bool
	// allow lifts guards for the next pass only (SyncNowWith).
	allow SyncNowOptions

	rewalk    bool      // re-add watches before the next pass
	checkAt   time.Time // next look at the watched roots
	trk       *watch.Tracker
	said      bool // that some directories cannot be watched, until all are
	deb       *debouncer
	wEvents   <-chan fsnotify.Event
	wErrors   <-chan error
	bwChecked time.Time
	bwNext    time.Time

	// own holds what the last pass wrote, as agreed in the ancestor
	// (until the next operation may change it): events for these paths
	// still in that state come from the pass's own writes. ownIDs holds
	// what each was on disk then, by debouncer key.
	own    map[string]tree.Entry
	ownIDs map[string]fs.FileInfo

	// kept is the remote kept between passes (Options.KeepRemote), nil
	// until a pass needs it and again once the job stops; rw watches its
	// folder in continuous mode.
	kept     Remote
	rw       *remoteWatch
	rNotes   <-chan remoteNote
	rNoWatch bool // the server cannot watch it (said once): polling
	// rStates holds the state the server last reported of each path of
	// a pending remote notice, by debouncer key.
	rStates map[string]tree.Entry
}

func (r *runner) run(ctx context.Context, after <-chan struct{}) {
	defer close(r.done)
	if after != nil {
		select {
		case <-after:
		case <-ctx.Done():
			return
		}
	}
	l := &loop{r: r, ctx: ctx, clock: r.a.clock, opDone: make(chan opResult, 1)}
	now := l.clock.Now()

	l.bwChecked = now
	if len(r.rules) > 0 {
		bw := initialBandwidth(r.job.Bandwidth, r.rules, now)
		r.limits.set(bw)
		l.bwNext = nextRuleTime(r.rules, now)
	}
	l.openDB()
	if r.job.Mode == config.Continuous {
		l.startWatching()
	}
	l.s = newSchedule(jobCadence(r.job, r.sched), now, r.startStopped, l.trk != nil, l.remoteSight(), l.rootMissing())
	l.followUnwatched(true)
	if r.job.Mode == config.Continuous && !l.s.Stopped() {
		l.keptRemote()
	}
	defer l.shutdown()
	for {
		l.maybeStart(ctx)
		if l.s.Stopped() && l.op == nil && l.kept != nil {
			l.dropRemote()
		}
		l.publish()
		l.flush()
		var tc <-chan time.Time
		var t Timer
		if wake := l.wake(); !wake.IsZero() {
			t = l.clock.NewTimer(max(0, wake.Sub(l.clock.Now())))
			tc = t.C()
		}
		select {
		case <-ctx.Done():
			if t != nil {
				t.Stop()
			}
			return
		case c := <-r.cmds:
			l.command(c)
		case res := <-l.opDone:
			l.opEnded(res)
		case ev, ok := <-l.wEvents:
			if !ok {
				l.wEvents = nil
				break
			}
			l.watchEvent(ev)
		case err, ok := <-l.wErrors:
			if !ok {
				l.wErrors = nil
				break
			}
			l.watchError(err)
		case n := <-l.rNotes:
			l.remoteNotice(n)
		case <-tc:
			l.timer()
		}
		if t != nil {
			t.Stop()
		}
	}
}

func (l *loop) openDB() {
	r := l.r
	db, err := snapshot.Open(r.dbPath)
	if err != nil {
		l.dbErr = fmt.Errorf("unable to open snapshot %s: %w", r.dbPath, err)
		l.dbWait = l.clock.Now().Add(r.job.Retry.Interval)
		r.log.Error("job cannot run until its snapshot opens", "err", l.dbErr, "retry", r.job.Retry.Interval)
		return
	}
	l.db, l.dbErr = db, nil
	if msg := db.Recovered(); msg != "" {
		r.log.Warn("snapshot was unreadable and has been set aside; the next pass treats both sides as new", "detail", msg)
	}
	var last *snapshot.PassRecord
	if p, ok, err := db.LastPass(); err != nil {
		r.log.Warn("unable to read the last pass from the snapshot", "err", err)
	} else if ok {
		last = &p
	}
	n := l.countConflicts()
	r.mu.Lock()
	if last != nil {
		r.status.Last = last
	}
	r.status.Conflicts = n
	r.mu.Unlock()
}

func (l *loop) countConflicts() int {
	cs, err := l.db.Conflicts()
	if err != nil {
		l.r.log.Warn("unable to read conflicts", "err", err)
	}
	return len(cs)
}

// startWatching watches the local root, and a local-folder remote's root.
func (l *loop) startWatching() {
	r := l.r
	w, err := r.a.newWatcher()
	if err != nil {
		args := []any{"err", err, "interval", r.job.Interval}
		if watch.IsInstanceLimit(err) {
			args = append(args, "fix", "the inotify instance limit (or the limit of open files) is reached; "+watch.InstancesFix)
		}
		r.log.Error("unable to watch for changes; falling back to a pass every interval", args...)
		// The server's notices still come: they wait for cooloff as a
		// local event would, or a file written there a piece at a time
		// runs a whole pass per notice.
		l.deb = newDebouncer(r.job.Cooloff)
		return
	}
	roots := []string{r.job.Local}
	if r.job.RemoteURL == nil && filepath.IsAbs(r.job.Remote) {
		roots = append(roots, r.job.Remote)
	}
	l.trk = watch.New(w, roots, r.exclude, r.job.PartialSuffix, r.log)
	l.deb = newDebouncer(r.job.Cooloff)
	l.wEvents, l.wErrors = w.Events(), w.Errors()
	l.trk.AddAll()
	l.checkAt = l.clock.Now().Add(rootCheck)
}

// watchEvent takes in one change event; one on a root itself has the
// tracker re-arm that root, and the key it returns stands for it.
func (l *loop) watchEvent(ev fsnotify.Event) {
	missing := l.rootMissing()
	key, ok := l.trk.Handle(ev)
	l.rootsChanged(missing, nil)
	l.followUnwatched(l.op == nil)
	if ok && !l.s.Stopped() && !l.rootMissing() && (l.op != nil || !l.ownChange(key)) {
		l.touch(key, l.clock.Now())
	}
}

// touch records a change for the debouncer, whose due time the schedule
// follows.
func (l *loop) touch(key string, now time.Time) {
	l.deb.touch(key, now)
	l.s = l.s.Changes(l.deb.due())
}

// clearChanges forgets the debouncer's pending changes.
func (l *loop) clearChanges() {
	if l.deb != nil {
		l.deb.clear()
	}
	clear(l.rStates)
	l.s = l.s.Changes(time.Time{})
}

// ownChange reports whether the change event key (a debouncer key) is
// to a path the last pass wrote that is still as it left it (for a server
// notice: as the server last reported it).
func (l *loop) ownChange(key string) bool {
	if strings.HasPrefix(key, remoteKey) {
		return l.remoteOwn(key)
	}
	i, rel, ok := strings.Cut(key, ":")
	if !ok || len(i) != 1 || int(i[0]-'0') >= len(l.trk.Roots()) {
		return false
	}
	e, ok := l.own[rel]
	return ok && inAgreedState(filepath.Join(l.trk.Roots()[i[0]-'0'], filepath.FromSlash(rel)), e, l.ownIDs[key])
}

// noteOwn keeps what the pass wrote and which file or directory each path
// is now, so that one moved into its place later is not taken for it.
func (l *loop) noteOwn(own map[string]tree.Entry) {
	l.own, l.ownIDs = own, nil
	if len(own) == 0 || l.trk == nil {
		return
	}
	l.ownIDs = make(map[string]fs.FileInfo, len(own))
	for rel := range own {
		for i, root := range l.trk.Roots() {
			if fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(rel))); err == nil {
				l.ownIDs[fmt.Sprintf("%d:%s", i, rel)] = fi
			}
		}
	}
}

// followUnwatched follows the directories the tracker could not watch
// (the inotify watch limit, permissions): it says so once, with the fix,
// and has the schedule poll every interval while there are any, as their
// changes raise no event; idle says no pass runs. The poll passes walk the
// tree again (maybeStart), so once the limit is raised or the directories
// go, polling stops.
func (l *loop) followUnwatched(idle bool) {
	if l.trk == nil {
		return
	}
	r := l.r
	f := l.trk.Failed()
	switch {
	case f != nil && !l.said:
		l.said = true
		r.log.Warn("some directories cannot be watched; changes below them are synced by a pass every interval until they can be",
			"unwatched", l.trk.Unwatched(), "err", f, "interval", r.job.Interval)
	case f == nil && l.said && !l.rootMissing():
		// A missing root's directories are forgotten, not watched.
		l.said = false
		r.log.Info("every directory is watched again; polling for unwatched ones stops")
	}
	l.s = l.s.Unwatched(l.clock.Now(), idle, f != nil)
}

// unwatchedStatus is the status of the directories that cannot be
// watched, nil if there is none.
func (l *loop) unwatchedStatus() *Unwatched {
	if l.trk == nil {
		return nil
	}
	f := l.trk.Failed()
	if f == nil {
		return nil
	}
	return &Unwatched{Dirs: l.trk.Unwatched(), Dir: f.Dir, Limit: f.Limit(), Err: f.Err.Error(), Fix: f.Fix(), Every: l.r.job.Interval}
}

// rootMissing reports whether a watched root is gone: the job holds its
// passes until it is back, as they could only fail.
func (l *loop) rootMissing() bool {
	if l.trk == nil {
		return false
	}
	_, missing := l.trk.Missing()
	return missing
}

// rootsChanged follows up a look at the roots: wasMissing is whether one
// was missing before it, rearmed the roots it watched afresh. A re-armed
// root may hold anything, so it asks for a pass once it has been still for
// cooloff, as a folder being restored is not whole before that.
func (l *loop) rootsChanged(wasMissing bool, rearmed []int) {
	missing := l.rootMissing()
	if missing != wasMissing {
		l.deb.clear()
	}
	l.s = l.s.Hold(missing)
	if missing || l.s.Stopped() {
		return
	}
	now := l.clock.Now()
	for _, i := range rearmed {
		l.touch(watch.RootKey(i), now)
	}
}

// missingRoot is the halt of a watched root that is gone (nil if none is).
func (l *loop) missingRoot() *halt.Halt {
	if l.trk == nil {
		return nil
	}
	i, ok := l.trk.Missing()
	if !ok {
		return nil
	}
	side := syncer.SideLocal
	if i > 0 {
		side = syncer.SideRemote
	}
	return folderMissing(l.r.job, l.r.a.configFile(), side)
}

// remoteSight is how the job sees changes on the remote side: a ferry://
// remote is watched by the server once its watch is armed.
func (l *loop) remoteSight() remoteSight {
	switch {
	case l.r.job.RemoteURL != nil:
		return remoteServed
	case l.trk != nil && filepath.IsAbs(l.r.job.Remote):
		return remoteWatched
	}
	return remotePolled
}

func (l *loop) watchError(err error) {
	if watch.IsOverflow(err) {
		l.r.log.Warn("change events were lost; rescanning everything", "err", err)
	} else {
		l.r.log.Warn("watch error; rescanning everything", "err", err)
	}
	if !l.s.Stopped() {
		l.s = l.s.Ask()
		l.rewalk = true
	}
}

// wake is when the loop next has something to do on its own.
func (l *loop) wake() time.Time {
	var w time.Time
	add := func(t time.Time) {
		if !t.IsZero() && (w.IsZero() || t.Before(w)) {
			w = t
		}
	}
	add(l.bwNext)
	if l.trk != nil {
		add(l.checkAt)
	}
	if l.db == nil {
		add(l.dbWait)
	} else if l.op == nil {
		add(l.s.Wake())
	}
	return w
}

// timer handles what the wake timer can be for besides passes, which
// maybeStart picks up.
func (l *loop) timer() {
	now := l.clock.Now()
	if !l.bwNext.IsZero() && !now.Before(l.bwNext) {
		bw := dueRules(l.r.limits.Bandwidth(), l.r.rules, l.bwChecked, now)
		l.r.limits.set(bw)
		l.r.log.Info("bandwidth schedule applied", "upload", int64(bw.Upload), "download", int64(bw.Download))
		l.bwChecked = now
		l.bwNext = nextRuleTime(l.r.rules, now)
	}
	if l.db == nil && !now.Before(l.dbWait) {
		l.openDB()
	}
	if l.trk != nil && !now.Before(l.checkAt) {
		l.checkAt = now.Add(rootCheck)
		missing := l.rootMissing()
		l.rootsChanged(missing, l.trk.CheckRoots())
		l.followUnwatched(l.op == nil)
	}
}

// maybeStart starts the next operation when none is running: resets first,
// then resolves, then a pass.
func (l *loop) maybeStart(ctx context.Context) {
	if l.op != nil {
		return
	}
	for _, rep := range l.resets {
		var err error
		if l.db == nil {
			err = l.dbErr
		} else if err = l.db.Reset(); err != nil {
			err = fmt.Errorf("unable to reset snapshot of job %q: %w", l.r.job.Name, err)
		} else {
			l.own, l.ownIDs = nil, nil
			l.afterReset = true
			l.r.log.Info("snapshot reset; the next pass treats both sides as new")
			l.r.mu.Lock()
			l.r.status.Conflicts = 0
			l.r.mu.Unlock()
			l.s = l.s.Reset()
		}
		l.send(rep, reply{err: err})
	}
	l.resets = nil
	if l.db == nil {
		return
	}
	if len(l.solves) > 0 {
		c := l.solves[0]
		l.solves = l.solves[1:]
		l.begin(ctx, opResolve, c)
		return
	}
	now := l.clock.Now()
	why := l.s.Due(now)
	if why == 0 {
		return
	}
	if why&dueRescan != 0 || why&duePoll != 0 && l.trk != nil && l.trk.Failed() != nil {
		// A poll for directories that could not be watched tries them
		// again: the limit may have been raised.
		l.rewalk = true
	}
	// A pass due only to changes the debouncer could name looks at them
	// alone; any other reason to pass looks at everything.
	l.within = nil
	if why == dueChanges && !l.rewalk && !l.afterReset && !l.wholeNext && l.deb != nil {
		l.within, _ = l.deb.within()
	}
	if l.rewalk && l.trk != nil {
		// Re-arming a root that turns out replaced asks for a pass:
		// this one, which scans everything.
		l.rootsChanged(false, l.trk.AddAll())
		l.followUnwatched(false)
		if l.rootMissing() {
			l.rewalk = false
			return
		}
	}
	l.rewalk = false
	// The scan sees every change made so far.
	l.clearChanges()
	l.s = l.s.Start(now)
	l.begin(ctx, opPass, command{})
}

func (l *loop) begin(ctx context.Context, kind opKind, c command) {
	r := l.r
	octx, cancel := context.WithCancelCause(ctx)
	l.op = &operation{kind: kind, ctx: octx, cancel: cancel, cmd: c}
	l.own, l.ownIDs = nil, nil
	db := l.db
	kept := l.keptRemote()
	if kind == opPass {
		r.mu.Lock()
		r.status.State = Scanning
		r.prog.reset()
		r.mu.Unlock()
		// A job that follows changes (a local watcher, or only the
		// server's notices) learns what its pass wrote.
		continuous := l.deb != nil
		within := l.within
		l.within = nil
		allow := l.allow
		l.allow = SyncNowOptions{}
		pctx := octx
		if l.afterReset {
			pctx = versions.WithReason(octx, versions.Reset)
		}
		go func() {
			var own ownWrites
			rec, err := r.runPass(pctx, db, kept, own.observe, within, allow)
			res := opResult{rec: rec, err: err, scoped: within != nil}
			if continuous {
				var aerr error
				if res.own, aerr = own.agreed(db); aerr != nil {
					r.log.Warn("unable to read what the pass wrote; its own writes will cause another pass", "err", aerr)
				}
			}
			l.opDone <- res
		}()
		return
	}
	go func() {
		l.opDone <- opResult{err: r.runResolve(octx, db, kept, c.paths)}
	}()
}

// openEndpoints opens both sides with the caps in force now; with a kept
// remote, only the local one.
func (r *runner) openEndpoints(ctx context.Context, db *snapshot.DB, kept Remote) (endpoint.Endpoint, endpoint.Endpoint, error) {
	job := r.job
	job.Bandwidth = r.limits.Bandwidth()
	var local, remote endpoint.Endpoint
	var err error
	if r.a.opts.OpenWith != nil {
		local, remote, err = r.a.opts.OpenWith(ctx, OpenRequest{Job: job, DB: db, Limits: r.limits, Remote: kept})
	} else {
		local, remote, err = r.a.opts.Open(ctx, job)
	}
	if err != nil {
		// The opener's errors name the job (status and the log do too).
		return nil, nil, fmt.Errorf("unable to open the folders: %w", err)
	}
	if kept != nil && remote != endpoint.Endpoint(kept) {
		r.closeEndpoints(remote)
		remote = kept
	}
	return local, remote, nil
}

// closePass closes what a pass opened: a kept remote stays open, less
// what the pass left on it.
func (r *runner) closePass(local, remote endpoint.Endpoint, kept Remote) {
	if kept != nil {
		r.closeEndpoints(local)
		kept.EndPass()
		return
	}
	r.closeEndpoints(local, remote)
}

func (r *runner) closeEndpoints(eps ...endpoint.Endpoint) {
	for _, ep := range eps {
		if ep == nil {
			continue
		}
		if err := ep.Close(); err != nil {
			r.log.Warn("unable to close endpoint", "err", err)
		}
	}
}

func (r *runner) syncOptions(local, remote endpoint.Endpoint, db *snapshot.DB) syncer.Options {
	job := r.job
	job.Bandwidth = r.limits.Bandwidth()
	return syncer.Options{
		Job:      job,
		Local:    local,
		Remote:   remote,
		DB:       db,
		Observer: r.observe,
		// The syncer names the job in every line it logs: r.log, which
		// does too, would write "job" twice.
		Log:        r.a.log,
		Now:        r.a.clock.Now,
		Slots:      r.a.slots.For(r.job.Name),
		ConfigFile: r.a.configFile(),

		HashWhileCopying: r.a.opts.HashWhileCopying != nil && r.a.opts.HashWhileCopying(job),
	}
}

// runPass runs one pass, scoped to within if not nil; also, when not
// nil, receives its events.
func (r *runner) runPass(ctx context.Context, db *snapshot.DB, kept Remote, also syncer.Observer, within []string, allow SyncNowOptions) (snapshot.PassRecord, error) {
	start := r.a.clock.Now()
	local, remote, err := r.openEndpoints(ctx, db, kept)
	if err != nil {
		rec := snapshot.PassRecord{Start: start, End: r.a.clock.Now(), Err: err.Error()}
		// The syncer never saw this pass, so it is recorded here for status.
		if perr := db.PutPass(rec); perr != nil {
			r.log.Warn("unable to record pass", "err", perr)
		}
		return rec, err
	}
	defer r.closePass(local, remote, kept)
	if kept != nil && remote == endpoint.Endpoint(kept) {
		r.mu.Lock()
		r.link = kept
		r.mu.Unlock()
		defer func() {
			server := ""
			if r.severalServers() {
				server = kept.Server()
			}
			r.mu.Lock()
			r.link = nil
			if server != "" {
				r.status.Server = server
			}
			r.mu.Unlock()
		}()
	}
	// Pruned after the pass, on the agent's clock, whatever its outcome:
	// a failed pass may have kept versions too.
	defer r.pruneVersions()
	opts := r.syncOptions(local, remote, db)
	opts.Within = within
	opts.AllowDeletes, opts.AllowChanges = allow.AllowDeletes, allow.AllowChanges
	if also != nil {
		opts.Observer = func(ev syncer.Event) {
			also(ev)
			r.observe(ev)
		}
	}
	return r.a.pass(ctx, opts)
}

func (r *runner) runResolve(ctx context.Context, db *snapshot.DB, kept Remote, paths []string) error {
	local, remote, err := r.openEndpoints(ctx, db, kept)
	if err != nil {
		return err
	}
	defer r.closePass(local, remote, kept)
	if err := r.a.resolve(ctx, r.syncOptions(local, remote, db), paths); err != nil {
		return fmt.Errorf("unable to resolve conflicts of job %q: %w", r.job.Name, err)
	}
	return nil
}

// opEnded takes in a finished operation's outcome and schedules what
// follows.
func (l *loop) opEnded(res opResult) {
	r := l.r
	op := l.op
	l.op = nil
	// Cause is nil unless the operation was cancelled (Stop, ResetSync,
	// shutdown) before it ended.
	cause := context.Cause(op.ctx)
	op.cancel(nil)
	now := l.clock.Now()
	if l.db != nil {
		n := l.countConflicts()
		r.mu.Lock()
		r.status.Conflicts = n
		r.mu.Unlock()
	}
	for _, w := range l.waiters {
		l.send(w, reply{})
	}
	l.waiters = nil
	if op.kind == opResolve {
		l.send(op.cmd.reply, reply{err: res.err})
		return
	}

	if res.err == nil {
		l.afterReset = false
	}
	l.wholeNext = res.err != nil
	l.noteOwn(res.own)
	// Drops the changes when every event during the pass came from its
	// own writes.
	l.dropOwnChanges(0)

	interrupted := res.err != nil && cause != nil
	if interrupted && res.rec.Err != "" {
		// Stopped, reset or shut down: however the endpoints worded the
		// cancellation (a dial cut short, a transfer the server saw
		// abandoned), the pass was interrupted, not failed.
		res.rec.Err, res.rec.Interrupted = "", true
		if l.db != nil {
			if err := l.db.PutPass(res.rec); err != nil {
				r.log.Warn("unable to record pass", "err", err)
			}
		}
	}
	r.mu.Lock()
	if !res.rec.Start.IsZero() {
		rec := res.rec
		r.status.Last = &rec
	}
	r.prog.finish()
	r.mu.Unlock()
	end := passOK
	// One line per pass: its summary, how it ended and what follows.
	level, msg, args := slog.LevelInfo, "pass finished", passSummary(res.rec)
	switch {
	case interrupted:
		end = passInterrupted
		args = append(args, "result", "interrupted", "why", cause)
	case errors.Is(res.err, syncer.ErrHalted):
		end = passHalted
		level = slog.LevelWarn
		args = append(args, "result", "halted")
		var h *syncer.HaltError
		if errors.As(res.err, &h) {
			// The agent holds the job: the fix goes through it.
			held := h.Halt
			held.Agent = true
			l.halt = &held
			h = &syncer.HaltError{Halt: held}
			args = append(args, "kind", h.Kind, "reason", h.Reason(), "fix", h.Fix())
		} else {
			args = append(args, "reason", res.err)
		}
	case res.err != nil:
		end = passFailed
		args = append(args, "result", "failed", "err", res.err)
	default:
		l.halt = nil
		args = append(args, "result", "done")
	}
	if res.scoped {
		l.s = l.s.OnScopedEnded(now, end)
	} else {
		l.s = l.s.OnEnded(now, end)
	}
	if end == passFailed {
		if retry, left := l.s.Retrying(); retry {
			level, msg = slog.LevelWarn, "pass failed; retrying"
			args = append(args, "in", r.job.Retry.Interval, "retries_left", left)
		} else {
			level, msg = slog.LevelError, "pass failed; giving up until the next scheduled pass"
		}
	}
	r.log.Log(l.ctx, level, msg, args...)
}

// passSummary is what a pass record says in the log: counts, bytes and
// duration.
func passSummary(rec snapshot.PassRecord) []any {
	var took time.Duration
	if !rec.Start.IsZero() && rec.End.After(rec.Start) {
		took = rec.End.Sub(rec.Start)
	}
	return []any{
		"created", rec.Created, "updated", rec.Updated, "deleted", rec.Deleted,
		"renamed", rec.Renamed, "copied", rec.Copied, "conflicts", rec.Conflicts,
		"problems", rec.Problems, "skipped", rec.Skipped,
		"bytes", rec.Bytes, "in_sync_bytes", rec.InSync, "seconds", took.Seconds(),
		"scoped_paths", rec.Scoped,
	}
}

func (l *loop) command(c command) {
	r := l.r
	switch c.kind {
	case cmdStop:
		if !l.s.Stopped() {
			l.clearChanges()
			l.s = l.s.Stop()
			r.log.Info("job stopped")
		}
		if l.op != nil {
			l.op.cancel(errStopping)
			l.waiters = append(l.waiters, c.reply)
			return
		}
		l.send(c.reply, reply{})
	case cmdResume:
		if l.s.Stopped() {
			l.s = l.s.Resume(l.clock.Now())
			r.log.Info("job resumed")
			if r.job.Mode != config.Schedule {
				// Changes made while stopped raised no event we acted on.
				l.rewalk = true
			}
		}
		l.send(c.reply, reply{})
	case cmdSyncNow:
		if l.s.Stopped() {
			l.send(c.reply, reply{err: fmt.Errorf("unable to sync job %q: %w; resume it with: ferry resume --config %s %s",
				r.job.Name, ErrStopped, halt.Quote(r.a.configFile()), halt.Quote(r.job.Name))})
			return
		}
		if l.db == nil {
			l.send(c.reply, reply{err: l.dbErr})
			return
		}
		if h := l.missingRoot(); h != nil {
			l.send(c.reply, reply{err: fmt.Errorf("unable to sync job %q: %s", r.job.Name, h.Reason())})
			return
		}
		l.allow.AllowDeletes = l.allow.AllowDeletes || c.sync.AllowDeletes
		l.allow.AllowChanges = l.allow.AllowChanges || c.sync.AllowChanges
		l.s = l.s.Ask()
		l.send(c.reply, reply{})
	case cmdReset:
		if l.op != nil {
			l.op.cancel(errResetting)
		}
		l.resets = append(l.resets, c.reply)
	case cmdConflicts:
		if l.db == nil {
			l.send(c.reply, reply{err: l.dbErr})
			return
		}
		cs, err := l.db.Conflicts()
		if err != nil {
			err = fmt.Errorf("unable to read conflicts of job %q: %w", r.job.Name, err)
		}
		l.send(c.reply, reply{conflicts: cs, err: err})
	case cmdResolve:
		if l.db == nil {
			l.send(c.reply, reply{err: l.dbErr})
			return
		}
		l.solves = append(l.solves, c)
	case cmdSetBandwidth:
		bw := c.bw
		cur := r.limits.Bandwidth()
		if bw.Policy == "" {
			bw.Policy = cur.Policy
		}
		if bw.Schedule == nil {
			bw.Schedule = cur.Schedule
		} else {
			r.rules = c.rules
			now := l.clock.Now()
			l.bwChecked = now
			l.bwNext = nextRuleTime(r.rules, now)
		}
		r.limits.set(bw)
		r.log.Info("bandwidth changed", "upload", int64(bw.Upload), "download", int64(bw.Download))
		l.send(c.reply, reply{})
	}
}

// publish copies the loop's view into the status Jobs reads.
func (l *loop) publish() {
	r := l.r
	now := l.clock.Now()
	var next time.Time
	if l.db != nil {
		next = l.s.NextPass(now, l.op == nil)
	}
	r.stopped.Store(l.s.Stopped())
	cfgFile, missing, unwatched := r.a.configFile(), l.missingRoot(), l.unwatchedStatus()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status.NextPass = next
	r.status.Unwatched = unwatched
	r.status.Config = cfgFile
	r.status.SetHalt(l.halt)
	if l.db == nil && l.dbErr != nil {
		r.status.Halted = l.dbErr.Error() + " — check that the state directory is writable and no other ferry uses this job"
	}
	if missing != nil {
		r.status.SetHalt(missing)
	}
	if l.op != nil && l.op.kind == opPass {
		return // the pass's events drive the state
	}
	switch {
	case l.s.Stopped():
		r.status.State = Stopped
	case r.status.Halted != "":
		r.status.State = Halted
	default:
		r.status.State = Idle
	}
}

// shutdown cancels a running operation, waits for it to checkpoint, and
// releases the watcher and the database.
func (l *loop) shutdown() {
	if l.op != nil {
		l.op.cancel(context.Canceled)
		l.opEnded(<-l.opDone)
	}
	gone := reply{err: fmt.Errorf("unable to finish: job %q is shutting down", l.r.job.Name)}
	for _, rep := range l.resets {
		l.send(rep, gone)
	}
	for _, c := range l.solves {
		l.send(c.reply, gone)
	}
	if l.trk != nil {
		_ = l.trk.Close()
	}
	l.dropRemote()
	if l.db != nil {
		if err := l.db.Close(); err != nil {
			l.r.log.Warn("unable to close snapshot", "err", err)
		}
	}
	l.publish()
	l.flush()
}

// send queues a reply until the status has been published, so a caller
// that reads Jobs right after Stop sees "stopped".
func (l *loop) send(to chan reply, rep reply) {
	l.outbox = append(l.outbox, outgoing{to, rep})
}

func (l *loop) flush() {
	for _, o := range l.outbox {
		o.to <- o.rep // buffered, one reply per call
	}
	l.outbox = nil
}
