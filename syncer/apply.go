package syncer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/ferry-sync/ferry/conflict"
	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/tree"
)

// chunkSize is the unit of a file-by-file copy and of progress reports.
const chunkSize = 1 << 20

const (
	local  = 0
	remote = 1
)

var sideNames = [2]string{SideLocal, SideRemote}

// errBlocked stands for an op not attempted because an op at or above its
// path on the same side did not happen this pass.
var errBlocked = errors.New("not attempted: an earlier change at or above this path did not happen")

// applier carries out a plan and records what happened.
type applier struct {
	opts *Options
	plan *Plan
	w    *snapshot.Writer
	eps  [2]endpoint.Endpoint

	// mu guards everything below: transfers finish concurrently.
	mu                       sync.Mutex
	created, updated         int
	renamed, copied          int
	deleted, skipped, failed int
	conflicts                int
	bytes, inSync            int64
	// sent holds, per path being transferred, the bytes that crossed the
	// link (progress not marked reused); bytes adds them up as files land.
	sent map[string]int64
	// moving holds each file to transfer, for its events.
	moving   map[string]moving
	firstErr error
	// inTheWay holds the paths left undone because a file ferry did not
	// create is in the way (ErrInTheWay), with the reason.
	inTheWay []snapshot.ProblemPath
	// diskLow holds the sides warnDiskSpace found short of space.
	diskLow []snapshot.DiskSpaceLow
	// blocked holds, per side, paths whose op did not happen: nothing at or
	// below them is attempted on that side this pass.
	blocked               [2]map[string]bool
	filesDone, filesTotal int
	bytesDone, bytesTotal int64
	// problems counts the unreadable paths of every plan applied (a
	// first sync applies several, see firstsync.go); problemPaths names
	// the first of them.
	problems     int
	problemPaths []snapshot.ProblemPath
	// soFar: the totals are of the plans made so far; more follow.
	soFar bool
}

func newApplier(opts *Options, plan *Plan) *applier {
	a := &applier{opts: opts, w: opts.DB.Writer(), eps: [2]endpoint.Endpoint{opts.Local, opts.Remote}}
	a.blocked = [2]map[string]bool{{}, {}}
	a.sent = map[string]int64{}
	a.moving = map[string]moving{}
	if plan != nil {
		a.take(plan)
	}
	return a
}

// take makes plan the one the applier carries out next, adding its files
// and bytes to the pass's totals.
func (a *applier) take(plan *Plan) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.plan = plan
	a.problems += len(plan.Problems)
	for _, p := range plan.Problems[:min(len(plan.Problems), max(snapshot.MaxProblemPaths-len(a.problemPaths), 0))] {
		a.problemPaths = append(a.problemPaths, snapshot.ProblemPath{Side: p.Side, Path: p.Path, Problem: p.Problem})
	}
	for s, ops := range [][]Op{plan.Local, plan.Remote} {
		for _, op := range ops {
			if isFile(op) {
				a.filesTotal++
			}
			if op.Kind == OpTransfer {
				a.bytesTotal += op.Entry.Size
				a.moving[op.Path] = moving{op.Entry.Size, s == local}
			}
			if op.Edit {
				// The transfer that follows the rename.
				a.filesTotal++
				a.bytesTotal += op.Entry.Size
				a.moving[op.Path] = moving{op.Entry.Size, s == local}
			}
		}
	}
}

// fill copies the outcome into the pass record.
func (a *applier) fill(rec *snapshot.PassRecord) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rec.Created, rec.Updated, rec.Deleted = a.created, a.updated, a.deleted
	rec.Renamed, rec.Copied, rec.InSync = a.renamed, a.copied, a.inSync
	rec.Conflicts, rec.Problems, rec.Skipped = a.conflicts, a.problems, a.skipped
	rec.Bytes = a.bytes
	rec.ProblemPaths = slices.Clone(a.problemPaths)
	// Paths left undone until the user acts are problems too, named
	// with the true reason; unlike a skip, the next pass will not fix
	// them by itself.
	rec.InTheWay = len(a.inTheWay)
	rec.Problems += len(a.inTheWay)
	slices.SortFunc(a.inTheWay, func(x, y snapshot.ProblemPath) int { return strings.Compare(x.Path, y.Path) })
	rec.ProblemPaths = append(rec.ProblemPaths, a.inTheWay[:min(len(a.inTheWay), snapshot.MaxProblemPaths-len(rec.ProblemPaths))]...)
	rec.DiskSpaceLow = slices.Clone(a.diskLow)
}

func (a *applier) ops(side int) []Op {
	if side == local {
		return a.plan.Local
	}
	return a.plan.Remote
}

// run applies the plan: ancestor-only records, conflict copies, removals,
// directories/links/metadata, then transfers. The writer is flushed however
// it ends.
func (a *applier) run(ctx context.Context) (err error) {
	defer a.event(Event{Phase: PhaseDone})
	return a.runPlan(ctx)
}

// runPlan applies the plan the applier holds and flushes the writer
// however it ends, so that what happened is in the snapshot before the
// next plan (or the end of the pass).
func (a *applier) runPlan(ctx context.Context) (err error) {
	defer func() {
		if ferr := a.w.Flush(); ferr != nil && err == nil {
			err = fmt.Errorf("unable to save the ancestor: %w", ferr)
		}
	}()
	for _, p := range a.plan.Problems {
		a.opts.Log.Warn("unable to read path; it is left alone on both sides", "job", a.opts.Job.Name, "side", p.Side, "path", p.Path, "problem", p.Problem)
	}
	// Against a remote, asking for free space is a round trip; it only
	// ever warns, so it runs beside the work instead of before it.
	spaceChecked := make(chan struct{})
	go func() {
		defer close(spaceChecked)
		a.warnDiskSpace(ctx)
	}()
	defer func() { <-spaceChecked }()
	for _, e := range a.plan.Ancestor {
		if e.Exists() {
			err = a.w.Record(e)
		} else {
			err = a.w.Forget(e.Path)
		}
		if err != nil {
			return err
		}
	}

	// Conflicts whose loser is moved aside are recorded with the copy's
	// name once the rename happened; the others right away.
	aside := map[string]bool{}
	for s := range 2 {
		for _, op := range a.ops(s) {
			if op.Kind == OpCopyAside {
				aside[op.Path] = true
			}
		}
	}
	byPath := map[string]*conflict.Record{}
	for i := range a.plan.Conflicts {
		c := &a.plan.Conflicts[i]
		c.Time = a.opts.Now()
		if aside[c.Path] {
			byPath[c.Path] = c
			continue
		}
		if err := a.putConflict(*c); err != nil {
			return err
		}
	}

	// The paths this pass creates on either side, so that no conflict
	// copy takes one; only a pass with conflict copies needs them.
	var planned map[string]bool
	if len(aside) > 0 {
		planned = plannedPaths(a.plan)
	}
	var mirrors [2][]Op
	for s := range 2 {
		for _, op := range a.ops(s) {
			if op.Kind != OpCopyAside {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			copyName, err := a.copyAside(ctx, s, op, planned)
			if err = a.done(ctx, s, op, err); err != nil {
				return err
			}
			if copyName == "" {
				continue
			}
			if c := byPath[op.Path]; c != nil {
				c.Copy = copyName
				if err := a.putConflict(*c); err != nil {
					return err
				}
			}
			if op.Mirror {
				e := op.Expect
				e.Path = copyName
				kind := OpTransfer
				if e.Kind == tree.Symlink {
					kind = OpSymlink
				}
				mirrors[1-s] = append(mirrors[1-s], Op{Kind: kind, Path: copyName, Entry: e})
				a.mu.Lock()
				a.filesTotal++
				if kind == OpTransfer {
					a.bytesTotal += e.Size
					a.moving[copyName] = moving{e.Size, 1-s == local}
				}
				a.mu.Unlock()
			}
		}
	}

	// Transfers are known now: let the endpoints that move them get ready
	// while directories are made. They point into the plan, which holds
	// one op per path: a first sync's are nearly all transfers.
	var transfers [2][]*Op
	var creates, moves [2][]Op
	// A path-bound side (endpoint.Caps.PathBound) renames nothing: the file
	// goes anew under its new path, built on that side from the chunks of
	// the old one where it can, which is removed after the transfers
	// (bound), with the directories the renames leave. bound[s][i] is the
	// removal of the old path of the rename boundLeft[s][i].
	var bound, boundLeft [2][]Op
	isBound := [2]bool{a.plan.Mode.LocalPathBound, a.plan.Mode.RemotePathBound}
	for s := range 2 {
		var edits []*Op
		ops := a.ops(s)
		for i := range len(ops) + len(mirrors[s]) {
			var op *Op
			if i < len(ops) {
				op = &ops[i]
			} else {
				op = &mirrors[s][i-len(ops)]
			}
			if op.Kind == OpRename && op.Entry.Kind == tree.File && isBound[s] {
				transfers[s] = append(transfers[s], &Op{Kind: OpTransfer, Path: op.Path, Entry: op.Entry, Expect: tree.Entry{Path: op.Path}})
				bound[s] = append(bound[s], Op{Kind: OpRemove, Path: op.Expect.Path, Expect: op.Expect})
				boundLeft[s] = append(boundLeft[s], *op)
				a.mu.Lock()
				a.filesTotal++ // the removal
				if !op.Edit {
					a.bytesTotal += op.Entry.Size
				}
				a.moving[op.Path] = moving{op.Entry.Size, s == local}
				a.mu.Unlock()
				continue
			}
			switch op.Kind {
			case OpTransfer:
				transfers[s] = append(transfers[s], op)
			case OpMkdir, OpSymlink, OpSetMeta:
				creates[s] = append(creates[s], *op)
			case OpRename, OpCopy:
				moves[s] = append(moves[s], *op)
				if op.Edit {
					edit := editAfter(*op)
					edits = append(edits, &edit)
				}
			}
		}
		defer a.prepare(ctx, s, slices.Concat(transfers[s], edits))()
	}

	// A directory that a rename leaves is removed after the rename: until
	// then it still holds what moves out of it.
	var later [2][]Op
	for s := range 2 {
		left := map[string]bool{}
		for _, op := range slices.Concat(moves[s], boundLeft[s]) {
			if op.Kind == OpRename {
				for q := tree.Parent(op.Expect.Path); q != ""; q = tree.Parent(q) {
					left[q] = true
				}
			}
		}
		var removes []Op
		for _, op := range a.ops(s) {
			switch {
			case op.Kind != OpRemove:
			case left[op.Path]:
				later[s] = append(later[s], op)
			default:
				removes = append(removes, op)
			}
		}
		if err := a.remove(ctx, s, removes); err != nil {
			return err
		}
	}

	for s := range 2 {
		err := a.inWaves(ctx, creates[s], false, func(ctx context.Context, op Op) error {
			var err error
			switch {
			case a.isBlocked(s, op.Path):
				err = errBlocked
			case op.Kind == OpMkdir:
				err = a.eps[s].Mkdir(ctx, op.Path, op.Entry.Mode)
			case op.Kind == OpSymlink:
				err = a.eps[s].Symlink(ctx, op.Path, op.Entry.Target, op.Expect)
			case op.Kind == OpSetMeta:
				err = a.setMeta(ctx, s, op)
			}
			return a.done(ctx, s, op, err)
		})
		if err != nil {
			return err
		}
	}

	for s := range 2 {
		var mu sync.Mutex
		err := a.inWaves(ctx, moves[s], false, func(ctx context.Context, op Op) error {
			op, fallback, err := a.move(ctx, s, op)
			if fallback {
				// Nothing was moved: send the file as if no rename or copy
				// had been found. The source stays where it was.
				a.opts.Log.Info("rename or local copy not possible; sending the file instead", "job", a.opts.Job.Name,
					"side", sideNames[s], "op", op.Kind.String(), "path", op.Path, "err", err)
				mu.Lock()
				transfers[s] = append(transfers[s], &Op{Kind: OpTransfer, Path: op.Path, Entry: op.Entry})
				mu.Unlock()
				a.mu.Lock()
				if !op.Edit {
					a.bytesTotal += op.Entry.Size
				}
				a.moving[op.Path] = moving{op.Entry.Size, s == local}
				a.mu.Unlock()
				return nil
			}
			if op.Edit && err == nil {
				// Renamed: now bring the new content, mostly from the
				// renamed file.
				edit := editAfter(op)
				mu.Lock()
				transfers[s] = append(transfers[s], &edit)
				mu.Unlock()
			}
			return a.done(ctx, s, op, err)
		})
		if err != nil {
			return err
		}
		if len(bound[s]) > 0 {
			// Left until the old files are removed, after the transfers.
			continue
		}
		if err := a.remove(ctx, s, later[s]); err != nil {
			return err
		}
	}

	a.opts.Log.Debug("directories and links applied; transferring", "job", a.opts.Job.Name,
		"to_local", len(transfers[local]), "to_remote", len(transfers[remote]))
	a.event(Event{Phase: PhaseTransferring})
	g, gctx := errgroup.WithContext(ctx)
	for s := range 2 {
		if len(transfers[s]) > 0 {
			g.Go(func() error { return a.transfer(gctx, s, transfers[s]) })
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for s := range 2 {
		if len(bound[s]) == 0 {
			continue
		}
		// A rename's old path goes only once its new path landed: removed
		// after a failed transfer, the side would hold neither until the
		// next pass. Kept, it stays recorded, and the next pass renames
		// again. Every transfer that did not happen blocked its path.
		removes := slices.Clone(later[s])
		for i, op := range bound[s] {
			if a.isBlocked(s, boundLeft[s][i].Path) {
				if err := a.done(ctx, s, op, errBlocked); err != nil {
					return err
				}
				continue
			}
			removes = append(removes, op)
		}
		if err := a.remove(ctx, s, removes); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// remove runs side s's removals, children before their directory.
func (a *applier) remove(ctx context.Context, s int, removes []Op) error {
	return a.inWaves(ctx, removes, true, func(ctx context.Context, op Op) error {
		err := errBlocked
		if !a.isBlocked(s, op.Path) {
			err = a.eps[s].Remove(ctx, op.Path, op.Expect)
			if errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
		}
		return a.done(ctx, s, op, err)
	})
}

// move carries out a rename or a local copy on side s and returns the op
// as it happened. fallback reports that nothing changed on disk and the
// file should be sent instead: the source was not as scanned (ErrChanged,
// gone) or the destination was taken (ErrExists), or the copy failed. A
// directory rename has no such fallback; it is left for the next pass,
// which scans again.
func (a *applier) move(ctx context.Context, s int, op Op) (done Op, fallback bool, err error) {
	if a.isBlocked(s, op.Path) {
		return op, false, errBlocked
	}
	ep := a.eps[s]
	// A file is reused only if its strong digest matches the one it
	// stands for: the scan matched them by size and xxhash, which a
	// crafted file can collide.
	switch {
	case op.Kind == OpRename && op.Entry.Kind == tree.File && !op.Edit:
		if err := a.sameContent(ctx, s, op.Expect, op.Entry); err != nil {
			return op, ctx.Err() == nil, err
		}
	case op.Kind == OpCopy:
		if err := a.sameContent(ctx, s, *op.From, op.Entry); err != nil {
			return op, ctx.Err() == nil, err
		}
	}
	switch op.Kind {
	case OpRename:
		err = ep.Rename(ctx, op.Expect.Path, op.Path, op.Expect)
		if err != nil {
			return op, op.Entry.Kind == tree.File && ctx.Err() == nil, err
		}
		// An edited file's mode and mtime come with its transfer, which
		// expects the renamed file as it was.
		if !op.Edit && !sameMeta(op.Expect, op.Entry) {
			if err := ep.SetMeta(ctx, op.Path, op.Entry.Mode, op.Entry.Mtime); err != nil {
				if ctx.Err() != nil {
					return op, false, err
				}
				// The rename happened: record it with the mode and mtime
				// the file kept, so the next pass sets them again.
				a.opts.Log.Warn("renamed, but unable to set mode and mtime; the next pass tries again", "job", a.opts.Job.Name,
					"side", sideNames[s], "path", op.Path, "err", err)
				op.Entry.Mode, op.Entry.Mtime = op.Expect.Mode, op.Expect.Mtime
			}
		}
		if len(op.Below) > 0 {
			op.Below = stillBelow(ctx, ep, op.Below)
		}
		return op, false, nil
	case OpCopy:
		err = ep.CopyFile(ctx, op.From.Path, *op.From, op.Entry, op.Expect)
		return op, err != nil && ctx.Err() == nil && !errors.Is(err, endpoint.ErrInTheWay), err
	}
	return op, false, fmt.Errorf("unable to move %q: %s is not a move", op.Path, op.Kind)
}

// errNotSame: a file a rename or copy would reuse does not hold the same
// content as the file it stands for, though size and xxhash agree.
var errNotSame = errors.New("strong digests differ")

// sameContent checks, by strong digest (Endpoint.Digests), that mine, a
// file on side s, holds the content of theirs, a file on the other side.
func (a *applier) sameContent(ctx context.Context, s int, mine, theirs tree.Entry) error {
	var dm, dt []chunk.Digest
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { dm, err = a.eps[s].Digests(gctx, []tree.Entry{mine}); return err })
	g.Go(func() (err error) { dt, err = a.eps[1-s].Digests(gctx, []tree.Entry{theirs}); return err })
	if err := g.Wait(); err != nil {
		return fmt.Errorf("unable to compare %s with %s: %w", mine.Path, theirs.Path, err)
	}
	if len(dm) != 1 || len(dt) != 1 || dm[0] == (chunk.Digest{}) || dm[0] != dt[0] {
		return fmt.Errorf("%s does not hold the content of %s: %w", mine.Path, theirs.Path, errNotSame)
	}
	return nil
}

// stillBelow returns the entries of a directory rename's Below that the
// side now holds at their new paths as scanned. The rename checks the
// directory, not what lies below it: a file deleted or changed there since
// the scan moved as it is now, and recording it as agreed would make the
// next pass read a file this side never had as deleted here, and delete it
// on the other side. Left unrecorded, the next pass copies it back or keeps
// both versions.
func stillBelow(ctx context.Context, ep endpoint.Endpoint, below []tree.Entry) []tree.Entry {
	if b, isBatch := ep.(endpoint.BatchStater); isBatch {
		paths := make([]string, len(below))
		for i, e := range below {
			paths[i] = e.Path
		}
		cur, err := b.StatMany(ctx, paths)
		if err != nil {
			return nil
		}
		out := make([]tree.Entry, 0, len(below))
		for i, e := range below {
			if cur[i].Problem == "" && asScanned(cur[i], e) {
				out = append(out, e)
			}
		}
		return out
	}
	ok := make([]bool, len(below))
	var g errgroup.Group
	g.SetLimit(64)
	for i, e := range below {
		g.Go(func() error {
			cur, err := ep.Stat(ctx, e.Path)
			ok[i] = err == nil && asScanned(cur, e)
			return nil
		})
	}
	_ = g.Wait()
	out := make([]tree.Entry, 0, len(below))
	for i, e := range below {
		if ok[i] {
			out = append(out, e)
		}
	}
	return out
}

// asScanned reports whether cur, as Stat saw it (no hash), is still the
// entry e that the scan found, as far as a stat can tell.
func asScanned(cur, e tree.Entry) bool {
	if cur.Kind != e.Kind || !sameMeta(cur, e) {
		return false
	}
	switch e.Kind {
	case tree.File:
		return cur.Size == e.Size
	case tree.Symlink:
		return cur.Target == e.Target
	}
	return true
}

// metaParallel bounds how many metadata operations (mkdir, symlink, set
// meta, remove) of one depth run at once. Against a remote each is a round
// trip, so a wave of a few hundred directories should cost about one; the
// server refuses what exceeds its own per-connection limit (512 by
// default) and the client waits and retries.
const metaParallel = 256

// inWaves runs fn for ops grouped by path depth, shallowest first (deepest
// first for removals), the ops of one depth concurrently. Every dependency
// between ops crosses depths (a directory is created before what it holds,
// and emptied before it is removed), so ops of one depth are independent;
// ops on the same path keep their order. Against a remote endpoint each op
// is a round trip: waves make a hundred new directories cost a few round
// trips instead of a hundred.
func (a *applier) inWaves(ctx context.Context, ops []Op, deepestFirst bool, fn func(context.Context, Op) error) error {
	byDepth := map[int][][]Op{}
	slot := map[string]int{}
	var depths []int
	for _, op := range ops {
		d := strings.Count(op.Path, "/")
		if _, ok := byDepth[d]; !ok {
			depths = append(depths, d)
		}
		i, ok := slot[op.Path]
		if !ok {
			i = len(byDepth[d])
			slot[op.Path] = i
			byDepth[d] = append(byDepth[d], nil)
		}
		byDepth[d][i] = append(byDepth[d][i], op)
	}
	sort.Ints(depths)
	if deepestFirst {
		slices.Reverse(depths)
	}
	for _, d := range depths {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(metaParallel)
		for _, same := range byDepth[d] {
			g.Go(func() error {
				for _, op := range same {
					if err := gctx.Err(); err != nil {
						return err
					}
					if err := fn(gctx, op); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func (a *applier) putConflict(c conflict.Record) error {
	if err := a.opts.DB.PutConflict(c); err != nil {
		return err
	}
	a.mu.Lock()
	a.conflicts++
	a.mu.Unlock()
	a.opts.Log.Warn("conflict", "job", a.opts.Job.Name, "path", c.Path, "reason", string(c.Reason), "copy", c.Copy)
	return nil
}

// copyAside renames op.Path on side s to a conflict copy name free on both
// sides and not created by this pass.
func (a *applier) copyAside(ctx context.Context, s int, op Op, planned map[string]bool) (string, error) {
	if a.isBlocked(s, op.Path) {
		return "", errBlocked
	}
	name, err := conflict.FreeName(op.Path, takenAnywhere(ctx, a.eps, planned))
	if err != nil {
		return "", err
	}
	if err := a.eps[s].Rename(ctx, op.Path, name, op.Expect); err != nil {
		return "", err
	}
	return name, nil
}

// plannedPaths returns the paths plan creates on either side.
func plannedPaths(plan *Plan) map[string]bool {
	planned := map[string]bool{}
	for _, ops := range [][]Op{plan.Local, plan.Remote} {
		for _, op := range ops {
			switch op.Kind {
			case OpTransfer, OpMkdir, OpSymlink, OpRename, OpCopy:
				planned[op.Path] = true
			}
		}
	}
	return planned
}

// takenAnywhere is the FreeName probe for conflict copies. A copy does not
// stay on the side it was made on: in two-way jobs it travels to the other
// side, and in one-way jobs the sending side's file of that name would be
// sent over it. A name free on one side only would therefore meet a
// different file at the same path, and the next pass would make a copy of
// the copy. So a name counts as taken if either side holds it or planned
// (the paths this pass creates; may be nil) lists it.
func takenAnywhere(ctx context.Context, eps [2]endpoint.Endpoint, planned map[string]bool) func(string) (bool, error) {
	return func(p string) (bool, error) {
		if planned[p] {
			return true, nil
		}
		for s, ep := range eps {
			taken, err := exists(ctx, ep, p)
			if err != nil {
				return false, fmt.Errorf("on the %s side: %w", sideNames[s], err)
			}
			if taken {
				return true, nil
			}
		}
		return false, nil
	}
}

func exists(ctx context.Context, ep endpoint.Endpoint, p string) (bool, error) {
	_, err := ep.Stat(ctx, p)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

// setMeta re-checks the path against the scan before changing it, since
// SetMeta itself takes no expected state.
func (a *applier) setMeta(ctx context.Context, s int, op Op) error {
	cur, err := a.eps[s].Stat(ctx, op.Path)
	if err != nil {
		return err
	}
	if !cur.SameStat(op.Expect) {
		return fmt.Errorf("unable to set mode and mtime of %q on the %s side: it changed since the scan: %w", op.Path, sideNames[s], endpoint.ErrChanged)
	}
	return a.eps[s].SetMeta(ctx, op.Path, op.Entry.Mode, op.Entry.Mtime)
}

func (a *applier) isBlocked(s int, p string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for q := p; q != ""; q = tree.Parent(q) {
		if a.blocked[s][q] {
			return true
		}
	}
	return false
}

// done accounts for one op's outcome and records it in the ancestor. It
// returns an error only when the pass must stop (cancellation, snapshot
// failure).
func (a *applier) done(ctx context.Context, s int, op Op, err error) error {
	if op.Kind == OpTransfer {
		// Its last event is sent below: what the pass kept on the file
		// goes, so that it holds per file only the plan.
		defer func() {
			a.mu.Lock()
			delete(a.moving, op.Path)
			a.mu.Unlock()
		}()
	}
	blocked := errors.Is(err, errBlocked)
	a.mu.Lock()
	if isFile(op) {
		a.filesDone++
	}
	switch {
	case blocked:
		a.skipped++
		a.blocked[s][op.Path] = true
	case err == nil:
		switch op.Kind {
		case OpRemove:
			a.deleted++
		case OpSetMeta:
			a.updated++
		case OpRename:
			a.renamed++
			if !op.Edit {
				a.inSync += op.Entry.Size
			}
			for _, e := range op.Below {
				a.inSync += e.Size
			}
		case OpCopy:
			a.copied++
			a.inSync += op.Entry.Size
		case OpTransfer, OpMkdir, OpSymlink:
			if op.Expect.Exists() {
				a.updated++
			} else {
				a.created++
			}
			if op.Kind == OpTransfer {
				a.bytes += a.sent[op.Path]
				a.inSync += op.Entry.Size
			}
		}
	case ctx.Err() != nil:
		a.blocked[s][op.Path] = true
	case errors.Is(err, endpoint.ErrInTheWay):
		a.inTheWay = append(a.inTheWay, snapshot.ProblemPath{Side: sideNames[s], Path: op.Path, Problem: inTheWayReason(err)})
		a.blocked[s][op.Path] = true
	case errors.Is(err, endpoint.ErrChanged), errors.Is(err, endpoint.ErrExists), errors.Is(err, endpoint.ErrHashMismatch), errors.Is(err, endpoint.ErrNotEmpty):
		a.skipped++
		a.blocked[s][op.Path] = true
	default:
		a.failed++
		if a.firstErr == nil {
			a.firstErr = err
		}
		a.blocked[s][op.Path] = true
	}
	if op.Kind == OpTransfer {
		delete(a.sent, op.Path)
	}
	a.mu.Unlock()

	if blocked {
		a.event(Event{Phase: PhaseTransferring, Path: op.Path, FileDone: true, Err: err})
		return nil
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		level := "path skipped: modification detected; the next pass looks again"
		switch {
		case errors.Is(err, endpoint.ErrInTheWay):
			level = "path left undone: a file ferry did not create is in the way; move or delete it"
		case !errors.Is(err, endpoint.ErrChanged) && !errors.Is(err, endpoint.ErrExists) && !errors.Is(err, endpoint.ErrHashMismatch) && !errors.Is(err, endpoint.ErrNotEmpty):
			level = "path failed"
		}
		a.opts.Log.Warn(level, "job", a.opts.Job.Name, "side", sideNames[s], "op", op.Kind.String(), "path", op.Path, "err", err)
		a.event(Event{Phase: PhaseTransferring, Path: op.Path, FileDone: true, Err: err})
		return nil
	}
	switch op.Kind {
	case OpCopyAside:
	case OpRemove:
		err = a.w.Forget(op.Path)
	case OpRename:
		err = a.w.Forget(op.Expect.Path)
		moved := op.Entry
		if op.Edit {
			// Both sides now hold the old content at Path until the
			// transfer that follows lands: a failed transfer is then
			// an edit on one side, which the next pass sends again.
			moved = editAfter(op).Expect
		}
		for _, e := range slices.Concat([]tree.Entry{moved}, op.Below) {
			if err != nil {
				break
			}
			err = a.w.Record(agreed(e))
		}
	default:
		err = a.w.Record(agreed(op.Entry))
	}
	ev := Event{Phase: PhaseTransferring, Path: op.Path, FileDone: true, Op: op.Kind}
	switch op.Kind {
	case OpRename:
		ev.From = op.Expect.Path
	case OpCopy:
		ev.From = op.From.Path
	}
	a.event(ev)
	return err
}

// progressTo counts bytes written to side s and reports them; those not
// reused crossed the link and count as sent for the file's path.
func (a *applier) progressTo(s int) endpoint.Progress {
	return func(p string, delta int64, reused bool) {
		a.mu.Lock()
		a.bytesDone += delta
		if !reused {
			a.sent[p] += delta
		}
		a.mu.Unlock()
		a.event(Event{Phase: PhaseTransferring, Path: p, Delta: delta, Reused: reused, To: sideNames[s]})
	}
}

// moving is a file a pass transfers: its size, and whether it comes to
// the local side.
type moving struct {
	size     int64
	download bool
}

// isFile tells the ops that count as files in a pass's progress from those
// on directories, which move no content.
func isFile(op Op) bool {
	return op.Entry.Kind != tree.Dir && (op.Entry.Exists() || op.Expect.Kind != tree.Dir)
}

// event stamps totals and time on ev and hands it to the observer.
func (a *applier) event(ev Event) {
	a.mu.Lock()
	ev.FilesDone, ev.FilesTotal = a.filesDone, a.filesTotal
	ev.BytesDone, ev.BytesTotal = a.bytesDone, a.bytesTotal
	ev.SoFar = a.soFar && ev.Phase != PhaseDone
	if ev.Path != "" {
		m := a.moving[ev.Path]
		ev.Size, ev.Download = m.size, m.download
	}
	a.mu.Unlock()
	ev.Time = a.opts.Now()
	a.opts.Observer(ev)
}

// warnDiskSpace logs, and keeps for the pass record, when a side that receives files would be left with
// less than the job's disk_space_warning share free. A share of 0 turns the
// warning off: the default (5%) comes from the jobs file's loader, so an
// explicit 0 is not mistaken for "not set".
func (a *applier) warnDiskSpace(ctx context.Context) {
	share := a.opts.Job.DiskSpaceWarning
	if !(share > 0) {
		return
	}
	for s := range 2 {
		// A first sync in batches asks at each: once warned, a side is
		// not warned again.
		a.mu.Lock()
		warned := slices.ContainsFunc(a.diskLow, func(d snapshot.DiskSpaceLow) bool { return d.Side == sideNames[s] })
		a.mu.Unlock()
		if warned {
			continue
		}
		var need uint64
		for _, op := range a.ops(s) {
			if op.Kind == OpTransfer {
				need += uint64(op.Entry.Size)
			}
		}
		if need == 0 {
			continue
		}
		sp, err := a.eps[s].FreeSpace(ctx)
		if err != nil || sp.Total == 0 {
			continue
		}
		left := uint64(0)
		if sp.Free > need {
			left = sp.Free - need
		}
		if float64(left)/float64(sp.Total) < share {
			a.opts.Log.Warn("disk space low", "job", a.opts.Job.Name, "side", sideNames[s],
				"free_bytes", sp.Free, "needed_bytes", need, "total_bytes", sp.Total,
				"warning_share", share)
			// Kept in the pass record too, so status and the page show it.
			a.mu.Lock()
			a.diskLow = append(a.diskLow, snapshot.DiskSpaceLow{Side: sideNames[s], Free: sp.Free, Needed: need, Total: sp.Total, Share: share})
			a.mu.Unlock()
		}
	}
}

// batchFor picks how side s's transfers move in one batch: the
// destination uploads them if it is a Batch, else the source downloads
// them if it is one. ok is false when neither is: files are then copied
// one by one.
func (a *applier) batchFor(s int) (b endpoint.Batch, download, ok bool) {
	if b, ok := a.eps[s].(endpoint.Batch); ok {
		return b, false, true
	}
	if b, ok := a.eps[1-s].(endpoint.Batch); ok {
		return b, true, true
	}
	return nil, false, false
}

// transfer moves files to side s: in one batch when an endpoint can
// (batchFor), else file by file with a bounded number of concurrent
// copies.
func (a *applier) transfer(ctx context.Context, s int, ops []*Op) error {
	todo := make([]*Op, 0, len(ops))
	for _, op := range ops {
		if a.isBlocked(s, op.Path) {
			if err := a.done(ctx, s, *op, errBlocked); err != nil {
				return err
			}
			continue
		}
		todo = append(todo, op)
	}
	if len(todo) == 0 {
		return nil
	}
	dst, src := a.eps[s], a.eps[1-s]
	progress := a.progressTo(s)
	if b, download, ok := a.batchFor(s); ok {
		items := make([]endpoint.Transfer, len(todo))
		for i, op := range todo {
			items[i] = endpoint.Transfer{Source: op.Entry, Expect: op.Expect}
		}
		if a.opts.Slots != nil {
			if err := a.opts.Slots.Acquire(ctx); err != nil {
				return err
			}
			defer a.opts.Slots.Release()
		}
		var errs []error
		if download {
			errs = b.Download(ctx, items, dst, progress)
		} else {
			errs = b.Upload(ctx, items, src, progress)
		}
		for i, op := range todo {
			var err error
			if i < len(errs) {
				err = errs[i]
			} else {
				err = fmt.Errorf("unable to transfer %q: the %s endpoint gave no result for it", op.Path, sideNames[s])
			}
			sent := *op // the plan's op is read meanwhile (warnDiskSpace)
			if err == nil && sent.Entry.Hash == 0 {
				// Scanned unhashed: recorded with the hash the batch
				// sent and the receiver verified, never unhashed.
				if sent.Entry.Hash = items[i].Source.Hash; sent.Entry.Hash == 0 {
					err = fmt.Errorf("unable to transfer %q: it was scanned unhashed and the batch did not hash it", op.Path)
				}
			}
			if err := a.done(ctx, s, sent, err); err != nil {
				return err
			}
		}
		return nil
	}

	var small, large []*Op
	for _, op := range todo {
		if op.Entry.Size <= smallFile {
			small = append(small, op)
		} else {
			large = append(large, op)
		}
	}
	copyOne := func(ctx context.Context, op *Op) error {
		sum, err := copyFile(ctx, src, dst, endpoint.Transfer{Source: op.Entry, Expect: op.Expect}, progress)
		copied := *op // the plan's op is read meanwhile (warnDiskSpace)
		switch {
		case err != nil:
		case sum == 0:
			// Never recorded unhashed; the next pass compares both.
			err = fmt.Errorf("unable to copy %q: it was scanned unhashed and the %s side cannot hash it as it reads it", op.Path, sideNames[1-s])
		default:
			// A file scanned unhashed is recorded with the hash of
			// what was copied.
			copied.Entry.Hash = sum
		}
		return a.done(ctx, s, copied, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(a.opts.Copiers)
	if len(small) > 0 {
		// Small files move like a batch, under one slot and many at a
		// time: each is a few system calls and a wait for its sync, and
		// the destination makes the files that commit together durable
		// with one sync (localfs's group commit), so the more wait at
		// once, the fewer syncs.
		g.Go(func() error {
			if a.opts.Slots != nil {
				if err := a.opts.Slots.Acquire(gctx); err != nil {
					return err
				}
				defer a.opts.Slots.Release()
			}
			sg, sctx := errgroup.WithContext(gctx)
			sg.SetLimit(smallInFlight())
			buffers := semaphore.NewWeighted(smallBuffers)
			for _, op := range small {
				w := smallWeight(op.Entry.Size)
				if buffers.Acquire(sctx, w) != nil {
					break // a copy failed or the pass ends: Wait says why
				}
				sg.Go(func() error {
					defer buffers.Release(w)
					return copyOne(sctx, op)
				})
			}
			return sg.Wait()
		})
	}
	for _, op := range large {
		g.Go(func() error {
			if a.opts.Slots != nil {
				if err := a.opts.Slots.Acquire(gctx); err != nil {
					return err
				}
				defer a.opts.Slots.Release()
			}
			return copyOne(gctx, op)
		})
	}
	return g.Wait()
}

// Files of up to smallFile bytes are copied up to smallCopiers at a time
// under one transfer slot (see transfer), while their buffers (smallWeight
// each) fit in smallBuffers: 256 files of 64 KiB, or 1024 of 4 KiB or
// less. Most of a small file's copy is the wait for its sync, so the
// number in flight is the pace where syncs are slow (a disk, not memory):
// with 256, a first sync of 100,000 files of 1-4 KB on this machine's
// disk waited on a few hundred group syncs of 256 files each.
const (
	smallFile    = 64 << 10
	smallCopiers = 1024
	smallBuffers = 16 << 20
)

// smallWeight is what a small file's copy holds of smallBuffers: its
// buffer (as big as the file), and no less than a page.
func smallWeight(size int64) int64 {
	return max(size, 4<<10)
}

// smallInFlight is smallCopiers, or fewer where the limit on open files
// is low: a copy in flight holds up to two descriptors (its source until
// the content is read, its partial until the commit), and the folders,
// the state database and the large files' copies need some too.
func smallInFlight() int {
	limit, ok := openFileLimit()
	if !ok || limit >= 2*smallCopiers+256 {
		return smallCopiers
	}
	return max(16, (int(limit)-256)/2)
}

// prepare asks the endpoint that will move side s's transfers in a batch
// to get ready for them; it returns the release to call when done.
func (a *applier) prepare(ctx context.Context, s int, ops []*Op) func() {
	b, download, ok := a.batchFor(s)
	if len(ops) == 0 || !ok {
		return func() {}
	}
	items := make([]endpoint.Transfer, len(ops))
	for i, op := range ops {
		items[i] = endpoint.Transfer{Source: op.Entry, Expect: op.Expect}
	}
	return b.Prepare(ctx, items, download)
}

// copyFile copies one file from src to dst through OpenFile/CreateFile,
// resuming after a partial file when the writer reports one. A partial
// whose content turns out stale (hash mismatch at commit) is rewritten
// from the start once. It returns the file's hash: the scan's, or for a
// file scanned unhashed (ScanOptions.HashLater) that of what it copied.
func copyFile(ctx context.Context, src, dst endpoint.Endpoint, t endpoint.Transfer, progress endpoint.Progress) (uint64, error) {
	sum, err := copyOnce(ctx, src, dst, t, progress, true)
	if errors.Is(err, errStalePartial) {
		sum, err = copyOnce(ctx, src, dst, t, progress, false)
	}
	return sum, err
}

var errStalePartial = errors.New("stale partial file")

func copyOnce(ctx context.Context, src, dst endpoint.Endpoint, t endpoint.Transfer, progress endpoint.Progress, resume bool) (uint64, error) {
	p := t.Source.Path
	r, err := src.OpenFile(ctx, p)
	if err != nil {
		return 0, err
	}
	// The source is closed once read, before the commit's wait for its
	// sync: many small copies wait at once (smallInFlight).
	closed := false
	closeSource := func() {
		if !closed {
			closed = true
			r.Close()
		}
	}
	defer closeSource()
	if r.Size() != t.Source.Size {
		return 0, fmt.Errorf("unable to copy %q: it is %d bytes now, %d when scanned: %w", p, r.Size(), t.Source.Size, endpoint.ErrChanged)
	}
	// A file scanned unhashed (or a Stat's entry) is hashed as it is
	// read where the reader can, so it is read whole and in order: no
	// resume, no block delta.
	var hr endpoint.HashingReader
	if t.Source.Hash == 0 {
		if hr, _ = r.(endpoint.HashingReader); hr != nil {
			resume = false
		}
	}
	w, err := dst.CreateFile(ctx, t.Source, t.Expect)
	if err != nil {
		return 0, err
	}
	var off int64
	if rw, ok := w.(endpoint.Resumable); ok && resume {
		off = rw.ExistingSize()
	}
	start := off
	if start > 0 {
		progress(p, start, true)
	}
	// The ranges to copy: the rest of the file, or, for a new version of
	// a file dst holds, what its current version does not.
	todo := []chunk.Range{{Off: off, Len: t.Source.Size - off}}
	if resume && off == 0 && endpoint.ReuseCandidate(t) {
		if held := seedCopy(ctx, src, dst, t, w); len(held) > 0 {
			todo = gaps(held, t.Source.Size)
			start = chunk.Bytes(held)
			progress(p, start, true)
		}
	}
	// A buffer no bigger than what is left to copy: a 1 MiB one for
	// each small file, zeroed and then collected, was half the CPU of a
	// sync of many small files.
	var left int64
	for _, rg := range todo {
		left = max(left, rg.Len)
	}
	buf := make([]byte, min(chunkSize, left))
	for _, rg := range todo {
		for off, end := rg.Off, rg.Off+rg.Len; off < end; {
			if err := ctx.Err(); err != nil {
				_ = w.Abort()
				return 0, err
			}
			n := min(int64(len(buf)), end-off)
			m, err := r.ReadAt(buf[:n], off)
			if m < int(n) {
				_ = w.Abort()
				if err == nil {
					err = fmt.Errorf("short read")
				}
				return 0, fmt.Errorf("unable to read %q at %d: %w", p, off, err)
			}
			if _, err := w.WriteAt(buf[:m], off); err != nil {
				_ = w.Abort()
				return 0, fmt.Errorf("unable to write %q at %d: %w", p, off, err)
			}
			off += int64(m)
			progress(p, int64(m), false)
		}
	}
	sum := t.Source.Hash
	if hr != nil {
		// Before the commit: a file that changed while it was read may
		// have given torn content, which must not land, nor its hash
		// be recorded. The next pass sends it as it is then.
		if sum, err = hr.Sum(t.Source); err != nil {
			_ = w.Abort()
			return 0, err
		}
	}
	closeSource()
	err = w.Commit()
	if errors.Is(err, endpoint.ErrHashMismatch) && start > 0 {
		// Take back what this attempt put on the progress bar; the retry
		// reports it again. What it wrote stays counted as sent.
		progress(p, -t.Source.Size, true)
		return 0, fmt.Errorf("%w: %w", errStalePartial, err)
	}
	if err != nil {
		return 0, err
	}
	return sum, nil
}

// editAfter is the transfer that follows an edited rename: the new
// content onto the renamed file.
func editAfter(op Op) Op {
	moved := op.Expect
	moved.Path = op.Path
	return Op{Kind: OpTransfer, Path: op.Path, Entry: op.Entry, Expect: moved}
}

// seedCopy starts a local copy of a new version of a file that dst holds
// from the chunks of its current version, and returns the ranges it
// filled. Nothing it could not do is an error: the file is copied whole.
func seedCopy(ctx context.Context, src, dst endpoint.Endpoint, t endpoint.Transfer, w endpoint.FileWriter) []chunk.Range {
	l, ok := endpoint.ListFor(ctx, src, t)
	if !ok {
		return nil
	}
	held, err := endpoint.SeedFrom(ctx, dst, t.Expect, w, l)
	if err != nil {
		return nil
	}
	return held
}

// gaps returns the ranges of [0, size) that held, in order and disjoint,
// does not cover.
func gaps(held []chunk.Range, size int64) []chunk.Range {
	var out []chunk.Range
	at := int64(0)
	for _, h := range held {
		if h.Off > at {
			out = append(out, chunk.Range{Off: at, Len: h.Off - at})
		}
		at = max(at, h.Off+h.Len)
	}
	if at < size {
		out = append(out, chunk.Range{Off: at, Len: size - at})
	}
	return out
}
