package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/conflict"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/internal/watch"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/tree"
)

// Opener opens a job's two endpoints for one pass. job.Bandwidth holds the
// caps in force at that moment.
type Opener func(ctx context.Context, job config.Job) (local, remote endpoint.Endpoint, err error)

// OpenRequest is what an OpenFunc is given.
type OpenRequest struct {
	// Job is the job's config with Bandwidth set to the caps in force now
	// (after SetBandwidth and bandwidth.schedule rules).
	Job config.Job
	// DB is the job's snapshot database, open for the job's lifetime: the
	// opener takes the scan caches from it (DB.Cache("local"),
	// DB.Cache("remote")) for localfs.Options.Cache.
	DB *snapshot.DB
	// Limits carries later cap changes while the endpoints are open; a
	// transport that can change rates live watches Limits.Load. It is the
	// same value for every pass of the job.
	Limits *Limits
	// Remote, when not nil, is the job's kept remote (Options.KeepRemote):
	// the opener opens only the local side and returns Remote as the
	// remote one.
	Remote Remote
}

// Remote is a job's remote side kept open between its passes (a ferry://
// server, one SSH connection for them all).
type Remote interface {
	endpoint.Endpoint
	// EndPass drops what a pass left on the endpoint (data sessions
	// prepared but not taken), so that nothing of one pass reaches the
	// next; the connection stays.
	EndPass()
	// Watch asks the server to watch its folder (less the paths exclude
	// matches) and calls notify with the paths that change, and their
	// states as the server saw them when it told (in the same order; nil
	// when it does not tell them), rescan set
	// when changes may have gone unseen (the watch starts or restarts:
	// notify is called so each time it is armed, or events were lost). It
	// keeps watching across reconnections and returns only when ctx ends
	// or the server cannot watch, with an error that says why.
	Watch(ctx context.Context, exclude []string, notify func(paths []string, states []tree.Entry, rescan bool)) error
	// Link returns the live figures of the data session that moves files
	// toward the local side (download) or away from it, false when none
	// runs.
	Link(download bool) (endpoint.Link, bool)
	// Server is the server the remote is connected to (host:port), ""
	// when it is not.
	Server() string
}

// OpenFunc is the richer form of Opener; see Options.OpenWith.
type OpenFunc func(ctx context.Context, req OpenRequest) (local, remote endpoint.Endpoint, err error)

// Options configure an Agent. Open or OpenWith is required.
type Options struct {
	Open Opener
	Log  *slog.Logger
	Now  func() time.Time
	// Observer receives every event of every job's passes (metrics,
	// logs). It is called from pass goroutines and must not block.
	Observer func(job string, ev syncer.Event)

	// OpenWith, when set, is used in place of Open: it also gets the job's
	// snapshot database and live Limits.
	OpenWith OpenFunc
	// KeepRemote, when set, makes the remote side of a job whose remote
	// is a ferry:// URL once for all its passes: the job keeps it open
	// between passes (OpenRequest.Remote), a continuous job watches the
	// server's folder over it, and it is closed when the job stops, is
	// removed or its config changes. It must not wait on the network: the
	// remote connects on first use. An error leaves each pass to open
	// the remote itself.
	KeepRemote func(req OpenRequest) (Remote, error)
	// Clock, when set, replaces Now and the real timers (tests).
	Clock Clock
	// HashWhileCopying, when set, says whether the endpoints the opener
	// gives a job hash files as they copy them
	// (syncer.Options.HashWhileCopying): cmd/ferry's folders on this
	// machine, not encrypted. A first sync then reads each file it sends
	// once.
	HashWhileCopying func(job config.Job) bool
}

// Errors a caller of the job methods can act on.
var (
	ErrNoJob      = errors.New("no such job")
	ErrNotRunning = errors.New("agent is not running")
	ErrStopped    = errors.New("job is stopped")
)

// Agent runs the jobs of one config.
type Agent struct {
	opts  Options
	clock Clock
	log   *slog.Logger
	slots *Slots

	// Seams replaced by tests.
	pass       func(context.Context, syncer.Options) (snapshot.PassRecord, error)
	resolve    func(context.Context, syncer.Options, []string) error
	newWatcher func() (watch.Watcher, error)

	// cfgFile is read without mu so that no job takes mu while holding
	// its own lock: a job's status takes the file name, and Reload
	// holds mu while it reads what its jobs are doing.
	cfgFile atomic.Pointer[string]

	mu      sync.Mutex
	runners []*runner // config order
	group   *errgroup.Group
	ctx     context.Context
	running bool
	closed  bool
}

// New checks cfg and prepares its jobs; nothing runs until Run.
func New(cfg *config.Config, opts Options) (*Agent, error) {
	if opts.Open == nil && opts.OpenWith == nil {
		return nil, errors.New("unable to create agent: no endpoint opener given")
	}
	a := &Agent{
		opts:       opts,
		clock:      opts.Clock,
		log:        opts.Log,
		pass:       syncer.Pass,
		resolve:    syncer.Resolve,
		newWatcher: watch.NewFS,
	}
	if a.clock == nil {
		a.clock = realClock{now: opts.Now}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	rs, err := a.prepare(cfg)
	if err != nil {
		return nil, err
	}
	a.runners = rs
	a.cfgFile.Store(&cfg.File)
	a.slots = NewSlots(maxTransfers(cfg))
	return a, nil
}

func maxTransfers(cfg *config.Config) int {
	if cfg.MaxConcurrentTransfers <= 0 {
		return config.DefaultMaxConcurrentTransfers
	}
	return cfg.MaxConcurrentTransfers
}

// prepare builds (but does not start) a runner for every job of cfg.
func (a *Agent) prepare(cfg *config.Config) ([]*runner, error) {
	if cfg == nil {
		return nil, errors.New("unable to load jobs: no config")
	}
	if cfg.StateDir == "" {
		return nil, fmt.Errorf("unable to load jobs from %s: state_dir is not set", cfg.File)
	}
	seen := make(map[string]bool)
	var rs []*runner
	for _, j := range cfg.Jobs {
		if j.Name == "" {
			return nil, fmt.Errorf("unable to load jobs from %s: a job has no name", cfg.File)
		}
		if seen[j.Name] {
			return nil, fmt.Errorf("unable to load jobs from %s: job name %q is used twice", cfg.File, j.Name)
		}
		seen[j.Name] = true
		r, err := newRunner(a, withDefaults(j), cfg.DBPath(j.Name))
		if err != nil {
			return nil, fmt.Errorf("unable to load job %q from %s: %w", j.Name, cfg.File, err)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// withDefaults fills what the config loader leaves zero, so a hand-built
// Config (tests, the one-shot CLI) behaves like a loaded one.
func withDefaults(j config.Job) config.Job {
	if j.Mode == "" {
		j.Mode = config.Interval
	}
	if j.Direction == "" {
		j.Direction = config.RemoteToLocal
	}
	if j.Interval <= 0 {
		j.Interval = config.DefaultInterval
	}
	if j.Cooloff <= 0 {
		j.Cooloff = config.DefaultCooloff
	}
	if j.RescanInterval <= 0 {
		j.RescanInterval = config.DefaultRescanInterval
	}
	if j.Retry == (config.Retry{}) {
		j.Retry = config.Retry{Attempts: config.DefaultRetryAttempts, Interval: config.DefaultRetryInterval}
	}
	if j.Retry.Interval <= 0 {
		j.Retry.Interval = config.DefaultRetryInterval
	}
	return j
}

// Run runs every job until ctx is done, then cancels running passes (they
// checkpoint), waits for every job to close its snapshot, and returns nil.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.running || a.closed {
		a.mu.Unlock()
		return errors.New("unable to run agent: it has already been run")
	}
	a.running = true
	a.group = new(errgroup.Group)
	a.ctx = ctx
	// Holding the group open until ctx is done lets Reload add jobs even
	// when none are left running.
	a.group.Go(func() error {
		<-ctx.Done()
		a.mu.Lock()
		a.closed = true
		a.mu.Unlock()
		return nil
	})
	for _, r := range a.runners {
		a.start(r, nil)
	}
	a.mu.Unlock()
	return a.group.Wait()
}

// start launches r's goroutine once after (the job it replaces) is done;
// a.mu is held.
func (a *Agent) start(r *runner, after <-chan struct{}) {
	ctx, cancel := context.WithCancel(a.ctx)
	r.cancel = cancel
	r.started = true
	a.group.Go(func() error {
		defer cancel()
		r.run(ctx, after)
		return nil
	})
}

// lookup finds a running job.
func (a *Agent) lookup(name string) (*runner, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.runners {
		if r.job.Name == name {
			if !r.started || a.closed {
				return nil, fmt.Errorf("unable to reach job %q: %w", name, ErrNotRunning)
			}
			return r, nil
		}
	}
	return nil, fmt.Errorf("%w %q in %s", ErrNoJob, name, a.configFile())
}

func (a *Agent) configFile() string {
	return *a.cfgFile.Load()
}

// Jobs reports every job, in config order.
func (a *Agent) Jobs() []JobStatus {
	a.mu.Lock()
	rs := append([]*runner(nil), a.runners...)
	a.mu.Unlock()
	out := make([]JobStatus, 0, len(rs))
	now := a.clock.Now()
	for _, r := range rs {
		out = append(out, r.snapshot(now))
	}
	return out
}

// RateHistory returns every job's rate in each of the last HistoryLen
// seconds, for a graph that starts with the past.
func (a *Agent) RateHistory() []RateHistory {
	a.mu.Lock()
	rs := append([]*runner(nil), a.runners...)
	a.mu.Unlock()
	out := make([]RateHistory, 0, len(rs))
	now := a.clock.Now()
	for _, r := range rs {
		out = append(out, r.history(now))
	}
	return out
}

// Stop stops scheduling a job and cancels its running pass, which
// checkpoints; it returns once the pass has ended.
func (a *Agent) Stop(job string) error {
	return a.call(job, command{kind: cmdStop}).err
}

// Resume restarts a stopped job's scheduling.
func (a *Agent) Resume(job string) error {
	return a.call(job, command{kind: cmdResume}).err
}

// SyncNow starts a pass now, or, if one is running, exactly one more after
// it.
func (a *Agent) SyncNow(job string) error {
	return a.SyncNowWith(job, SyncNowOptions{})
}

// SyncNowOptions changes the one pass SyncNowWith asks for.
type SyncNowOptions struct {
	// AllowDeletes lifts max_delete and the root-emptied guard for that
	// pass only (as `ferry sync --allow-deletes`); later passes are
	// guarded again.
	AllowDeletes bool
	// AllowChanges lifts max_change for that pass only (as `ferry sync
	// --allow-changes`).
	AllowChanges bool
}

// SyncNowWith is SyncNow with options for the pass it asks for. If a pass
// is running, the options apply to the one after it.
func (a *Agent) SyncNowWith(job string, o SyncNowOptions) error {
	return a.call(job, command{kind: cmdSyncNow, sync: o}).err
}

// ResetSync forgets the job's ancestor, scan caches and conflicts (a
// running pass is cancelled first) and starts a pass that treats both
// sides as new.
func (a *Agent) ResetSync(job string) error {
	return a.call(job, command{kind: cmdReset}).err
}

// Conflicts lists a job's unresolved conflicts.
func (a *Agent) Conflicts(job string) ([]conflict.Record, error) {
	rep := a.call(job, command{kind: cmdConflicts})
	return rep.conflicts, rep.err
}

// Resolve runs syncer.Resolve for paths once no pass is running.
func (a *Agent) Resolve(job string, paths []string) error {
	return a.call(job, command{kind: cmdResolve, paths: paths}).err

}

// SetBandwidth replaces the job's caps: Limits subscribers see them at once
// and the next endpoint open gets them. A nil bw.Schedule keeps the job's
// schedule rules, an empty Policy keeps its policy. The change lasts until
// the job restarts (a reload that changes the job, or a new agent).
func (a *Agent) SetBandwidth(job string, bw config.Bandwidth) error {
	var rules []bwRule
	if bw.Schedule != nil {
		var err error
		if rules, err = parseBWRules(bw.Schedule); err != nil {
			return fmt.Errorf("unable to set bandwidth of job %q: %w", job, err)
		}
	}
	return a.call(job, command{kind: cmdSetBandwidth, bw: bw, rules: rules}).err
}

func (a *Agent) call(job string, c command) reply {
	r, err := a.lookup(job)
	if err != nil {
		return reply{err: err}
	}
	return r.call(c)
}

// Reload applies a new config: jobs that are new start, removed ones stop
// (their passes checkpoint), changed ones restart with the new settings
// (staying stopped if they were), and unchanged ones keep running.
func (a *Agent) Reload(cfg *config.Config) error {
	fresh, err := a.prepare(cfg)
	if err != nil {
		return err
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return fmt.Errorf("unable to reload %s: %w", cfg.File, ErrNotRunning)
	}
	old := make(map[string]*runner, len(a.runners))
	for _, r := range a.runners {
		old[r.job.Name] = r
	}
	var retired []*runner
	next := make([]*runner, 0, len(fresh))
	for _, r := range fresh {
		o := old[r.job.Name]
		delete(old, r.job.Name)
		if o != nil && o.dbPath == r.dbPath && reflect.DeepEqual(o.job, r.job) {
			next = append(next, o)
			continue
		}
		var after <-chan struct{}
		if o != nil {
			retired = append(retired, o)
			r.startStopped = o.isStopped()
			after = o.done
		}
		next = append(next, r)
		if a.running {
			if o != nil && o.started {
				o.cancel()
			}
			a.start(r, after)
		}
	}
	for _, o := range old {
		retired = append(retired, o)
		if o.started {
			o.cancel()
		}
	}
	a.runners = next
	a.cfgFile.Store(&cfg.File)
	a.slots.SetLimit(maxTransfers(cfg))
	a.mu.Unlock()

	for _, o := range retired {
		if o.started {
			<-o.done
		}
	}
	return nil
}
