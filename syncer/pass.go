package syncer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/halt"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/tree"
)

// ErrIncomplete is wrapped by Pass when some paths failed for reasons other
// than a change between scan and apply (which is an ordinary skip). The pass
// still recorded everything that succeeded; a later pass retries the rest.
var ErrIncomplete = errors.New("some paths could not be synced")

// Slots limits concurrent transfers across jobs.
type Slots interface {
	Acquire(ctx context.Context) error
	Release()
}

// Connector is implemented by endpoints that connect lazily (the remote
// endpoint). Pass connects them while the other side is checked and
// scanned, and fails with the connection's own error, not wrapped, so a
// refused host key or key reads as it does when the caller connected
// first. Pass does not wait for Connect before its first calls (the
// signature check, the listing): a Connector's calls must join the
// connection being made, so that they leave as soon as it is up.
type Connector interface {
	Connect(ctx context.Context) error
}

// Committer is a scan cache the pass commits after both scans succeeded
// (*snapshot.Cache satisfies it).
type Committer interface {
	Commit() error
}

// Options are what one pass of one job needs.
type Options struct {
	Job           config.Job
	Local, Remote endpoint.Endpoint
	DB            *snapshot.DB
	// Observer, Log and Now may be nil.
	Observer Observer
	Log      *slog.Logger
	Now      func() time.Time
	// AllowDeletes lifts max_delete for this pass.
	AllowDeletes bool
	// AllowChanges lifts max_change for this pass.
	AllowChanges bool
	// Slots, if not nil, bounds concurrent transfers across jobs.
	Slots Slots
	// ConfigFile names the jobs file in the commands halt messages suggest.
	ConfigFile string
	// Caches are committed once both scans succeeded, so the next scan
	// reuses this one's hashes. The opener that gave the endpoints their
	// caches passes them here.
	Caches []Committer
	// Copiers bounds concurrent file-by-file copies within this pass when
	// neither endpoint moves files in batches; 0 means 4.
	Copiers int
	// Within, when not nil, scopes the pass to these slash-separated
	// relative paths (the ones a continuous job saw change): each one's
	// subtree is scanned, reconciled and applied, the directories above
	// them only checked, and the rest of the tree neither read nor
	// touched. "" or "." is the whole tree. A pass that cannot be sure
	// the scope suffices runs whole instead (see scope.go);
	// PassRecord.Scoped says which it was.
	Within []string
	// HashWhileCopying says both endpoints take files whose hash is not
	// known yet: their scans honour ScanOptions.HashLater, their readers
	// are endpoint.HashingReaders, and their CreateFile writes a file
	// whose meta has Hash 0 without checking it (localfs; cmd/ferry sets
	// it for a job between two folders on this machine). A first sync
	// then reads each file a side sends once, to copy it, instead of
	// once to hash it and once to copy it. cmd/ferry also sets it for a
	// local-to-remote job whose remote's Upload hashes as it sends
	// (endpoint.Batch): only the local side, which sends, then scans
	// unhashed, and the remote, which only receives, by batch.
	HashWhileCopying bool
	// FirstSyncBatch is how many paths a first sync (an empty ancestor)
	// plans and applies at a time, so that its memory does not grow with
	// the tree (see firstsync.go); 0 means 20,000, and a negative value
	// plans the whole tree before applying any of it.
	FirstSyncBatch int
}

func (o *Options) defaults() {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Observer == nil {
		o.Observer = func(Event) {}
	}
	if o.Copiers <= 0 {
		o.Copiers = 4
	}
	if o.FirstSyncBatch == 0 {
		o.FirstSyncBatch = defaultFirstBatch
	}
}

// Pass runs one sync pass: it checks the signature files, scans both sides
// concurrently, reconciles them with the ancestor, checks the plan against
// the safety limits and applies it, recording in the snapshot only what
// actually happened. A halt changes nothing and returns an error matching
// ErrHalted (and a *HaltError). On cancellation the current file is
// aborted (its partial kept for resuming), finished work is flushed to the
// snapshot, and the context's error is returned. The pass record is stored
// with db.PutPass in every case where the snapshot is reachable.
func Pass(ctx context.Context, opts Options) (snapshot.PassRecord, error) {
	opts.defaults()
	job := opts.Job
	rec := snapshot.PassRecord{Start: opts.Now()}
	finish := func(err error) (snapshot.PassRecord, error) {
		rec.End = opts.Now()
		var h *HaltError
		switch {
		case errors.As(err, &h):
			rec.Halt, rec.Halted = &h.Halt, h.Reason()
			opts.Observer(Event{Time: rec.End, Phase: PhaseHalted, Err: err})
			// The caller shows the halt with its fix; a log line at Warn
			// would say it twice on a terminal.
			opts.Log.Info("sync halted", "job", job.Name, "kind", h.Kind, "reason", h.Reason())
		case errors.Is(err, context.Canceled):
			rec.Interrupted = true
		case err != nil:
			rec.Err = err.Error()
		}
		if perr := opts.DB.PutPass(rec); perr != nil && err == nil {
			err = perr
		}
		return rec, err
	}

	noteRecovery := func() {
		if r := opts.DB.TakeRecovery(); r != nil {
			rec.Recovered = r
			opts.Log.Warn("snapshot was damaged; this pass has no ancestor and deletes nothing",
				"job", job.Name, "file", r.File, "moved_to", r.MovedTo, "reason", r.Reason)
		}
	}
	noteRecovery()
	scope := tree.NewScope(opts.Within)
	if rec.Recovered != nil {
		scope = tree.Scope{}
	}
	first := &firstSync{opts: &opts}
	p, err := planPass(ctx, &opts, false, noteRecovery, scope, first)
	if esc := (*escalation)(nil); errors.As(err, &esc) {
		opts.Log.Debug("the scoped pass runs whole", "job", job.Name, "paths", len(scope.Roots()), "reason", esc.reason)
		scope = tree.Scope{}
		p, err = planPass(ctx, &opts, false, noteRecovery, scope, first)
	}
	rec.Scoped = len(scope.Roots())
	if a := first.a; a != nil {
		// A first sync applied its plan in batches as it made it.
		a.event(Event{Phase: PhaseDone})
		a.fill(&rec)
		if err == nil && a.failed > 0 {
			err = fmt.Errorf("%w: %d failed, the first: %w", ErrIncomplete, a.failed, a.firstErr)
		}
		return finish(err)
	}
	if err != nil {
		return finish(err)
	}
	pair, plan := p.pair, p.plan

	if pair == "" {
		if err := opts.DB.SetPair(folderPair(job)); err != nil {
			return finish(err)
		}
	}
	opts.Log.Debug("planned", "job", job.Name, "to_local", len(plan.Local), "to_remote", len(plan.Remote),
		"conflicts", len(plan.Conflicts))
	a := newApplier(&opts, &plan)
	err = a.run(ctx)
	a.fill(&rec)
	if err == nil && a.failed > 0 {
		err = fmt.Errorf("%w: %d failed, the first: %w", ErrIncomplete, a.failed, a.firstErr)
	}
	return finish(err)
}

// planned is what planning a pass found.
type planned struct {
	plan Plan
	// pair is the folder pair the snapshot records; "" when it records
	// none yet (a new job, or a damaged snapshot replaced).
	pair string
}

// planPass does all of a pass that comes before the first change: the
// folder-pair and signature checks, the scans merged with the ancestor,
// the plan and the safety guards. A damaged snapshot is replaced (and
// recovered called) so that the pass runs without an ancestor; with
// dryRun it is an error instead, and no scan cache is saved: a dry run
// writes nothing, not even ferry's own records.
//
// A scope that is not the whole tree plans a scoped pass, or returns an
// *escalation when the pass must run whole instead.
//
// Given first, a pass that is not a dry run and finds an empty ancestor
// applies its plan in batches as it makes it (see firstsync.go): first.a
// is then set, the plan returned is empty, and what was applied is in
// first.a, also when an error is returned.
func planPass(ctx context.Context, opts *Options, dryRun bool, recovered func(), scope tree.Scope, first *firstSync) (planned, error) {
	job := opts.Job
	// A damaged snapshot is no ancestor: it is replaced, and this pass
	// reconciles as if the job were new (no deletions; files that differ
	// become conflicts).
	untrusted := func(err error) error {
		if dryRun {
			return fmt.Errorf("the snapshot is damaged, so a dry run cannot say what a pass would do (a real pass replaces it and syncs without an ancestor): %w", err)
		}
		if rerr := opts.DB.Recover(err); rerr != nil {
			return fmt.Errorf("unable to replace the damaged snapshot (%w): %w", err, rerr)
		}
		recovered()
		return nil
	}
	pair, err := opts.DB.Pair()
	if errors.Is(err, snapshot.ErrDamaged) {
		err = untrusted(err)
	}
	if err != nil {
		return planned{}, err
	}
	if h := pairChanged(pair, job, opts.ConfigFile); h != nil {
		return planned{}, h
	}
	scoped := !scope.Whole()
	var totals snapshot.Totals
	if scoped {
		if pair == "" {
			return planned{}, escalate("the snapshot records no pass yet")
		}
		t, ok, err := opts.DB.Totals()
		switch {
		case err != nil:
			return planned{}, escalate("%v", err)
		case !ok:
			return planned{}, escalate("the snapshot keeps no totals for the safety limits yet")
		case t.Entries == 0:
			return planned{}, escalate("the ancestor is empty")
		}
		totals = t
	}
	ancestor := func() *snapshot.AncestorReader {
		if scoped {
			return opts.DB.ScopedAncestorReader(scope)
		}
		return opts.DB.AncestorReader()
	}

	// Connecting to a remote takes several round trips; the local side's
	// check and scan overlap them, and the remote's check and listing are
	// sent as soon as the connection is up. Each side is listed only once
	// its signature file is found, so a folder that is not mounted is
	// neither listed nor cached as empty.
	connected, stopConnect := startConnect(ctx, opts.Remote)
	defer stopConnect()
	opts.Observer(Event{Time: opts.Now(), Phase: PhaseScanning})
	later := hashLater(opts, pair, dryRun, scoped)
	// unhashed: the sides whose scans leave files for the copy to hash.
	opts.Log.Debug("scanning", "job", job.Name, "unhashed_local", later[0], "unhashed_remote", later[1])
	mode := ModeOf(job)
	mode.LocalPathBound, mode.RemotePathBound = pathBound(opts.Local), pathBound(opts.Remote)
	if dryRun || scoped || opts.FirstSyncBatch < 0 {
		first = nil
	}
	if first != nil {
		first.mode = &mode
		first.later = later
		first.begin = func() error {
			if pair == "" {
				if err := opts.DB.SetPair(folderPair(job)); err != nil {
					return err
				}
			}
			// The ancestor is empty: every write from here keeps these.
			if err := opts.DB.SetTotals(snapshot.Totals{}); err != nil {
				opts.Log.Warn("unable to record the ancestor's totals; changes run whole passes", "job", job.Name, "err", err)
			}
			return nil
		}
	}
	got, err := gather(ctx, opts, &mode, connected, ancestor(), dryRun, scope, first, later)
	var damaged *ancestorError
	if errors.As(err, &damaged) && errors.Is(err, snapshot.ErrDamaged) {
		if err = untrusted(damaged.err); err == nil && scoped {
			return planned{}, escalate("the snapshot was damaged")
		}
		if err == nil {
			pair = ""
			got, err = gather(ctx, opts, &mode, connected, nil, dryRun, scope, first, later)
		}
	}
	if err == nil && !got.batched && (later[0] || later[1]) {
		// A batched first sync hashes them batch by batch (firstSync.apply).
		err = hashCompared(ctx, opts, &got, later, nil)
	}
	if he := (*halt.Error)(nil); errors.As(err, &he) {
		// An endpoint found a reason to halt (an encrypted remote's key
		// check): the remote's, as only the remote is wrapped.
		return planned{}, newHalt(he.Kind, job, opts.ConfigFile).onSide(job, SideRemote)
	}
	if err != nil {
		return planned{}, err
	}
	opts.Log.Debug("scanned", "job", job.Name, "local_entries", got.nLocal, "remote_entries", got.nRemote,
		"ancestor_entries", got.nAncestor, "unsettled", max(len(got.local), len(got.remote)))
	if !dryRun && !scoped && !got.batched {
		// Read whole, the ancestor's counts are known; from here every
		// write keeps them (a scoped pass's guards need them).
		if err := opts.DB.SetTotals(snapshot.Totals{Entries: got.nAncestor, Files: got.ancestorFiles}); err != nil {
			opts.Log.Warn("unable to record the ancestor's totals; changes run whole passes", "job", job.Name, "err", err)
		}
	}
	if !dryRun {
		for _, c := range opts.Caches {
			if err := c.Commit(); err != nil {
				opts.Log.Warn("unable to save scan cache; the next scan rehashes", "job", job.Name, "err", err)
			}
		}
	}

	if got.batched {
		// Applied as it was planned; with no ancestor, no side was
		// emptied (rootEmptied) and nothing is deleted.
		return planned{pair: pair}, nil
	}
	if scoped {
		if mode.LocalFolding.Folds() || mode.RemoteFolding.Folds() {
			// The clash check needs every name of a directory.
			return planned{}, escalate("a receiving side folds names")
		}
		if esc := dropContext(&got, scope); esc != nil {
			return planned{}, esc
		}
	}
	plan := Reconcile(got.ancestor, got.local, got.remote, mode)
	if want := wantedContent(&plan); want != nil && !got.keptAll && got.nAncestor > 0 {
		added, err := addCopySources(ctx, &got, ancestorSource{ancestor()}, want)
		if err != nil {
			return planned{}, err
		}
		if added {
			plan = Reconcile(got.ancestor, got.local, got.remote, mode)
		}
	}

	if scoped {
		if esc := deletesTopLevel(&plan); esc != nil {
			return planned{}, esc
		}
		if h := tooManyDeletes(&plan, totals.Entries, job, opts.ConfigFile, opts.AllowDeletes); h != nil {
			return planned{}, h
		}
		if h := tooManyChanges(&plan, totals.Files, job, opts.ConfigFile, opts.AllowChanges); h != nil {
			return planned{}, h
		}
		return planned{plan: plan, pair: pair}, nil
	}
	if h := rootEmptied(got.nAncestor, got.nLocal, SideLocal, job, opts.ConfigFile, opts.AllowDeletes); h != nil {
		return planned{}, h
	}
	if h := rootEmptied(got.nAncestor, got.nRemote, SideRemote, job, opts.ConfigFile, opts.AllowDeletes); h != nil {
		return planned{}, h
	}
	if h := tooManyDeletes(&plan, got.nAncestor, job, opts.ConfigFile, opts.AllowDeletes); h != nil {
		return planned{}, h
	}
	if h := tooManyChanges(&plan, got.ancestorFiles, job, opts.ConfigFile, opts.AllowChanges); h != nil {
		return planned{}, h
	}
	return planned{plan: plan, pair: pair}, nil
}

// startConnect connects ep in the background if it is a Connector.
// connected waits for the outcome; stop cancels a dial still running and
// waits for it, so no goroutine outlives the pass.
func startConnect(ctx context.Context, ep endpoint.Endpoint) (connected func(context.Context) error, stop func()) {
	c, ok := ep.(Connector)
	if !ok {
		return func(context.Context) error { return nil }, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		err = c.Connect(ctx)
	}()
	connected = func(ctx context.Context) error {
		select {
		case <-done:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return connected, func() {
		cancel()
		<-done
	}
}

// pathBound reports whether ep's files are bound to their paths
// (endpoint.Caps).
func pathBound(ep endpoint.Endpoint) bool { return ep.Caps().PathBound }

// noWait is the connected of an endpoint that needs no connecting.
func noWait(context.Context) error { return nil }

// checkSignature halts when side's signature file is missing. A failed
// connection is reported as itself, not as a failed check.
func checkSignature(ctx context.Context, opts *Options, side string, connected func(context.Context) error) error {
	sig, root, ep := opts.Job.LocalSignature, opts.Job.Local, opts.Local
	if side == SideRemote {
		sig, root, ep = opts.Job.RemoteSignature, remoteRoot(opts.Job), opts.Remote
	}
	if sig == "" {
		return nil
	}
	rel := signaturePath(sig, root)
	if err := tree.ValidPath(rel); err != nil {
		return fmt.Errorf("unable to check the %s signature file %q: it must be a path inside %s: %w", side, sig, root, err)
	}
	_, err := ep.Stat(ctx, rel)
	if cerr := connected(ctx); cerr != nil {
		return cerr
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return signatureMissing(opts.Job, opts.ConfigFile, side, rel)
	case err != nil:
		return fmt.Errorf("unable to check the %s signature file %q: %w", side, rel, err)
	}
	return nil
}

func remoteRoot(job config.Job) string {
	if job.RemoteURL != nil {
		return job.RemoteURL.Path
	}
	return job.Remote
}

// signaturePath makes a signature setting relative to its root: it is
// either relative already, or an absolute path inside the root.
func signaturePath(sig, root string) string {
	if !strings.HasPrefix(sig, "/") {
		return path.Clean(sig)
	}
	r := strings.TrimSuffix(path.Clean(root), "/") + "/"
	if rel, ok := strings.CutPrefix(path.Clean(sig), r); ok {
		return rel
	}
	return sig
}

// gather checks both sides' signature files, asks each receiving side
// what its filesystem folds, and merges both scans with the ancestor (anc,
// nil for none) into what the pass must reconcile (see merge). It fills in
// mode's foldings. A dry run's scans leave stale partial files.
//
// A scope that is not the whole tree is asked of both scans
// (ScanOptions.Within) and applied to what they list, as an endpoint may
// list more; anc must then read only the scope.
//
// later[i] asks side i's scan to leave unhashed the files it would have
// to read (ScanOptions.HashLater; see hashLater).
func gather(ctx context.Context, opts *Options, mode *Mode, connected func(context.Context) error, anc *snapshot.AncestorReader, dryRun bool, scope tree.Scope, first *firstSync, later [2]bool) (gathered, error) {
	job := opts.Job
	scans := [2]endpoint.ScanOptions{}
	for i := range scans {
		scans[i] = endpoint.ScanOptions{Exclude: job.Exclude, PartialSuffix: job.PartialSuffix, KeepStale: dryRun, Within: scope.Roots(), HashLater: later[i]}
	}
	want := inScope(scope)
	feeds := [2]*scanFeed{newScanFeed(SideLocal), newScanFeed(SideRemote)}
	var foldErr [2]error
	// folded[i] is closed once side i's folding is known (or will not be
	// asked); the merge waits for both before it drops a settled path.
	folded := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	g, gctx := errgroup.WithContext(ctx)
	side := func(i int, name string, ep endpoint.Endpoint, wait func(context.Context) error, receives bool, f *endpoint.Folding) {
		feed := feeds[i]
		g.Go(func() error {
			if err := checkSignature(gctx, opts, name, wait); err != nil {
				close(folded[i])
				return feed.close(gctx, err)
			}
			// Asked once the signature file is found (the probe writes a
			// file, never into a folder that is not mounted), beside the
			// scan: against a remote it is a round trip, which must not
			// hold the listing back. A dry run does not ask, as the probe
			// touches the folder's mtime: it plans as if names did not
			// fold, and the pass checks clashes for itself.
			if receives && !dryRun {
				g.Go(func() error {
					defer close(folded[i])
					if *f, foldErr[i] = ep.Folding(gctx); foldErr[i] != nil {
						*f = endpoint.Folding{Case: true, Normalization: true}
					}
					return nil
				})
			} else {
				close(folded[i])
			}
			err := ep.Scan(gctx, scans[i], func(e tree.Entry) error {
				// An encrypted remote's header in a job that does not
				// encrypt: syncing it would mix plaintext in.
				if name == SideRemote && !job.Encryption.Enabled && e.Path == tree.KeyHeaderName {
					return &halt.Error{Kind: halt.Encrypted}
				}
				if !want(e.Path) {
					return nil
				}
				return feed.add(gctx, e)
			})
			if err != nil {
				err = fmt.Errorf("unable to scan the %s folder: %w", name, err)
			}
			// A connection that could not be made says more than the
			// listing that needed it.
			if cerr := wait(gctx); cerr != nil {
				err = cerr
			}
			return feed.close(gctx, err)
		})
	}
	side(0, SideLocal, opts.Local, noWait, job.Direction != config.LocalToRemote, &mode.LocalFolding)
	side(1, SideRemote, opts.Remote, connected, job.Direction == config.LocalToRemote || job.Direction == config.TwoWay, &mode.RemoteFolding)
	var got gathered
	g.Go(func() error {
		var a source = &listSource{}
		if anc != nil {
			a = ancestorSource{anc}
		}
		var b *batches
		if first != nil {
			// The remote listing halts on an encryption header (above)
			// only once it got there.
			b = &batches{size: opts.FirstSyncBatch, apply: first.apply, from: tree.KeyHeaderName}
		}
		var err error
		got, err = mergeBatched(gctx, a, feeds[0], feeds[1], func() bool {
			for _, c := range folded {
				select {
				case <-c:
				case <-gctx.Done():
					return true
				}
			}
			return mode.LocalFolding.Folds() || mode.RemoteFolding.Folds()
		}, b)
		return err
	})
	if err := g.Wait(); err != nil {
		return gathered{}, err
	}
	for i, name := range [2]string{SideLocal, SideRemote} {
		if foldErr[i] != nil {
			opts.Log.Warn("unable to learn whether the folder folds case; names that differ only by case or Unicode normalisation are not written there",
				"job", job.Name, "side", name, "err", foldErr[i])
		}
	}
	return got, nil
}

// ancestorError marks an error of reading the ancestor, so that a damaged
// snapshot is told from a scan's errors.
type ancestorError struct{ err error }

func (e *ancestorError) Error() string { return e.err.Error() }
func (e *ancestorError) Unwrap() error { return e.err }

// ancestorSource reads the snapshot's ancestor as a merge source.
type ancestorSource struct{ r *snapshot.AncestorReader }

func (s ancestorSource) next(ctx context.Context) (tree.Entry, bool, error) {
	if err := ctx.Err(); err != nil {
		return tree.Entry{}, false, err
	}
	e, ok, err := s.r.Next()
	if err != nil {
		return e, ok, &ancestorError{err}
	}
	return e, ok, nil
}
