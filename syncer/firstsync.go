package syncer

import (
	"context"
	"slices"

	"github.com/ferry-sync/ferry/conflict"
	"github.com/ferry-sync/ferry/tree"
)

// defaultFirstBatch is how many paths a first sync plans and applies at a
// time (Options.FirstSyncBatch). A path's op is about 250 bytes, its
// entries on both sides as much again: some 10 MB a batch, while a batch
// of transfers is still long enough to keep a link busy.
const defaultFirstBatch = 20000

// A first sync (an empty ancestor) keeps every path the scans list: none
// is settled. Planned whole, its memory grows with the tree (1.2 KB a
// file at a million files). So the merge hands it to firstSync in batches
// (mergeBatched), each reconciled, checked against the guards, applied and
// recorded in the snapshot before the merge goes on; what a pass holds is
// then one batch and the directories above it.
//
// Reconcile of a batch decides each of its paths as Reconcile of the whole
// tree would: with no ancestor nothing is removed, renamed or overwritten,
// and a path's decision depends only on its own entries and on what the
// directories above it decided (a directory kept aside as a conflict copy
// takes what the scan saw below it along; a problem or a manual conflict
// leaves its subtree alone). Those directories come again at the head of
// the next batch as context: decided again, their ops dropped. Three
// things differ from a whole plan, none in what the sides end up holding:
//
//   - a local copy (an OpCopy in place of a transfer) takes its content
//     only from a file in the same batch;
//   - the pass's totals (Event.FilesTotal, BytesTotal) grow batch by
//     batch, and say so (Event.SoFar) until the last batch;
//   - a conflict copy's name is checked against the paths its own batch
//     creates, not later batches' (a later transfer finds it in the way,
//     leaves it, and the next pass sees both).
//
// A receiving side that folds names keeps the whole plan (the clash check
// needs every name of a directory), as does a pass with an ancestor or a
// scope, and a dry run. Interrupted, a batched first sync has recorded
// every batch it applied; the next pass, which has that ancestor, is no
// first sync and settles what was done by the streaming merge.
type firstSync struct {
	opts *Options
	// mode is the pass's, its foldings filled in before the first batch.
	mode *Mode
	// begin runs once, before the first batch changes anything: it
	// records the folder pair and the ancestor's (empty) totals, which
	// every write then keeps.
	begin func() error
	// later is which sides' scans left files unhashed (hashLater): a
	// batch's files that both sides list are hashed before it is
	// reconciled (hashCompared). A path's entries on both sides come in
	// one batch, so a batch's lists suffice.
	later [2]bool
	// a is the pass's applier, made with the first batch.
	a *applier
}

// apply reconciles, checks and applies one batch (batches.apply).
func (f *firstSync) apply(ctx context.Context, g *gathered, context []string, last bool) error {
	if f.a == nil {
		if err := f.begin(); err != nil {
			return err
		}
		f.a = newApplier(f.opts, nil)
	}
	if f.later[0] || f.later[1] {
		if err := hashCompared(ctx, f.opts, g, f.later, context); err != nil {
			return err
		}
	}
	plan := Reconcile(g.ancestor, g.local, g.remote, *f.mode)
	withoutContext(&plan, context)
	// With no ancestor a plan deletes and overwrites nothing; the guards
	// still run, before anything of the batch is done, with the totals a
	// whole plan's would have.
	job := f.opts.Job
	if h := tooManyDeletes(&plan, 0, job, f.opts.ConfigFile, f.opts.AllowDeletes); h != nil {
		return h
	}
	if h := tooManyChanges(&plan, 0, job, f.opts.ConfigFile, f.opts.AllowChanges); h != nil {
		return h
	}
	f.opts.Log.Debug("planned a batch", "job", job.Name, "paths", len(g.local)+len(g.remote), "to_local", len(plan.Local),
		"to_remote", len(plan.Remote), "conflicts", len(plan.Conflicts))
	f.a.take(&plan)
	f.a.mu.Lock()
	f.a.soFar = !last
	f.a.mu.Unlock()
	return f.a.runPlan(ctx)
}

// withoutContext drops from p what it decided for the context paths: an
// earlier batch did it.
func withoutContext(p *Plan, context []string) {
	if len(context) == 0 {
		return
	}
	in := func(path string) bool { return slices.Contains(context, path) }
	p.Local = slices.DeleteFunc(p.Local, func(op Op) bool { return in(op.Path) })
	p.Remote = slices.DeleteFunc(p.Remote, func(op Op) bool { return in(op.Path) })
	p.Ancestor = slices.DeleteFunc(p.Ancestor, func(e tree.Entry) bool { return in(e.Path) })
	p.Problems = slices.DeleteFunc(p.Problems, func(e ProblemEntry) bool { return in(e.Path) })
	p.Conflicts = slices.DeleteFunc(p.Conflicts, func(c conflict.Record) bool { return in(c.Path) })
	p.LocalDeletes, p.RemoteDeletes = countRemoves(p.Local), countRemoves(p.Remote)
	p.LocalOverwrites, p.RemoteOverwrites = countOverwrites(p.Local), countOverwrites(p.Remote)
}
