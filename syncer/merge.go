package syncer

import (
	"context"
	"fmt"

	"github.com/ferry-sync/ferry/tree"
)

// The pass does not hold the three listings whole. The ancestor (read from
// the snapshot a batch at a time) and the two scans (handed over in
// batches as they are made) are merged in one walk in tree.Compare order,
// and a path is kept only if it is not settled: a path both sides hold
// exactly as they last agreed, readable, needs nothing from the pass, so
// only its count is kept. Reconcile then runs on what was kept, which
// grows with what changed, not with the tree.
//
// Dropping settled paths changes no decision (TestMergeKeepsTheSamePlan
// checks it against Reconcile of the whole listings): a settled path has
// no op and records nothing; it makes no directory above it dirty or
// stuck; it can lie under no removed, renamed-aside or created directory
// (the other side would not hold it). Two rules do look at settled paths,
// and the pass provides for them: the case and normalisation clash check
// needs every name a folding side holds, so a pass where a receiving side
// folds keeps everything; and a local copy may take its content from a
// settled file, so when the plan receives content it might already hold,
// the ancestor is swept once more for settled files with that content
// (addCopySources).

// scanBatch is how many entries a scan hands the merge at once.
const scanBatch = 512

// scanFeed carries one side's scan to the merge in batches. The side's
// goroutine calls add for each entry and close at the end; the merge calls
// next. err, set before ch is closed, tells a scan that failed from one
// that ended.
type scanFeed struct {
	side string
	ch   chan []tree.Entry
	// free returns read batches to the scanning side for reuse.
	free chan []tree.Entry
	out  []tree.Entry // the batch being filled (the scanning goroutine's)
	in   []tree.Entry // the batch being read (the merge's)
	i    int
	err  error
	prev string
	n    int
}

func newScanFeed(side string) *scanFeed {
	return &scanFeed{side: side, ch: make(chan []tree.Entry, 4), free: make(chan []tree.Entry, 6), out: make([]tree.Entry, 0, scanBatch)}
}

// add takes one scanned entry, checking the order the merge relies on.
func (f *scanFeed) add(ctx context.Context, e tree.Entry) error {
	if f.n > 0 && tree.Compare(f.prev, e.Path) >= 0 {
		return fmt.Errorf("the %s scan listed %q after %q, out of order", f.side, e.Path, f.prev)
	}
	f.prev = e.Path
	f.n++
	f.out = append(f.out, e)
	if len(f.out) < scanBatch {
		return nil
	}
	return f.flush(ctx)
}

func (f *scanFeed) flush(ctx context.Context) error {
	if len(f.out) == 0 {
		return nil
	}
	select {
	case f.ch <- f.out:
		select {
		case f.out = <-f.free:
		default:
			f.out = make([]tree.Entry, 0, scanBatch)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close ends the feed: the last batch is sent if the scan succeeded
// (err nil); the merge sees err otherwise.
func (f *scanFeed) close(ctx context.Context, err error) error {
	if err == nil {
		err = f.flush(ctx)
	}
	f.err = err
	close(f.ch)
	return err
}

// next returns the feed's next entry; false at the end of a complete scan.
func (f *scanFeed) next(ctx context.Context) (tree.Entry, bool, error) {
	for f.i == len(f.in) {
		if f.in != nil {
			select {
			case f.free <- f.in[:0]:
			default:
			}
			f.in = nil
		}
		select {
		case b, ok := <-f.ch:
			if !ok {
				if f.err != nil {
					return tree.Entry{}, false, f.err
				}
				return tree.Entry{}, false, nil
			}
			f.in, f.i = b, 0
		case <-ctx.Done():
			return tree.Entry{}, false, ctx.Err()
		}
	}
	e := f.in[f.i]
	f.in[f.i] = tree.Entry{}
	f.i++
	return e, true, nil
}

// source is one sorted listing the merge reads.
type source interface {
	next(ctx context.Context) (tree.Entry, bool, error)
}

// peeked is a source with its head read ahead.
type peeked struct {
	src  source
	head tree.Entry
	ok   bool
}

func (p *peeked) advance(ctx context.Context) error {
	e, ok, err := p.src.next(ctx)
	p.head, p.ok = e, ok
	return err
}

// gathered is what the merge keeps of the three listings.
type gathered struct {
	ancestor, local, remote []tree.Entry
	// Counts of each whole listing, for the guards that need totals.
	nAncestor, nLocal, nRemote int
	// ancestorFiles counts the ancestor's regular files (max_change).
	ancestorFiles int
	// keptAll: nothing was dropped.
	keptAll bool
	// batched: the kept paths were handed to batches.apply as the merge
	// went, not kept here (a first sync, see mergeBatched).
	batched bool
}

// settled reports whether a path needs nothing from the pass: both sides
// hold, readably, exactly what they last agreed on.
func settled(a, l, r tree.Entry) bool {
	return a.Exists() && l.Problem == "" && r.Problem == "" && equal(a, l) && equal(l, r)
}

// merge walks the three listings in step. If keepAll, asked once the
// first entry of every listing is in, says so, every path is kept (a
// receiving side folds names, see above); otherwise settled ones are only
// counted.
func merge(ctx context.Context, anc, loc, rem source, keepAll func() bool) (gathered, error) {
	return mergeBatched(ctx, anc, loc, rem, keepAll, nil)
}

// batches hands a first sync's kept paths over a batch at a time (see
// firstsync.go).
type batches struct {
	// size is how many paths a batch holds, context included.
	size int
	// from is the first path a batch may end at: a scan can still stop
	// the pass (a halt) on an entry up to it, before which nothing may
	// have been applied. Paths before it go to the first batch.
	from string
	// apply takes one batch: g's lists, whose paths in context are
	// directories above the batch's paths that an earlier batch applied
	// (the reconciler needs them to decide what lies below: a directory
	// kept aside as a conflict copy, a problem, a manual conflict). It
	// must leave the lists' entries alone once it returns. last says no
	// batch follows.
	apply func(ctx context.Context, g *gathered, context []string, last bool) error
}

// mergeBatched is merge that, given b and an empty ancestor where no
// side folds names (keepAll false), hands its kept paths to b.apply
// whenever it holds b.size of them, and then again the rest; it returns
// g.batched set and empty lists then. A merge that never fills a batch
// returns its lists as merge does.
//
// A batch ends between two paths in tree order, where every listing has
// listed all up to the first and nothing beyond the second: a side's
// scan has read every directory the batch writes into. Only an empty
// ancestor is batched: its plan makes no removal, so no rename or
// directory move spans two batches, and no directory's decision depends
// on what lies below it.
func mergeBatched(ctx context.Context, anc, loc, rem source, keepAll func() bool, b *batches) (gathered, error) {
	var g gathered
	srcs := [3]*peeked{{src: anc}, {src: loc}, {src: rem}}
	for _, s := range srcs {
		if err := s.advance(ctx); err != nil {
			return g, err
		}
	}
	g.keptAll = keepAll()
	batching := b != nil && !srcs[0].ok && !g.keptAll
	// open holds the rows of the directories above the current path, the
	// context of the next batch; rows counts the batch's paths.
	var open [][3]tree.Entry
	var context []string
	rows := 0
	cut := func(last bool) error {
		if err := b.apply(ctx, &g, context, last); err != nil {
			return err
		}
		g.batched = true
		for _, l := range []*[]tree.Entry{&g.ancestor, &g.local, &g.remote} {
			clear(*l)
			*l = (*l)[:0]
		}
		context = context[:0]
		for _, row := range open {
			for i, l := range []*[]tree.Entry{&g.ancestor, &g.local, &g.remote} {
				if row[i].Path != "" {
					*l = append(*l, row[i])
				}
			}
			context = append(context, rowPath(row))
		}
		rows = len(open)
		return nil
	}
	for srcs[0].ok || srcs[1].ok || srcs[2].ok {
		// The smallest path among the heads; usually all three hold the
		// same one, which needs no ordering.
		p := srcs[0].head.Path
		if !srcs[0].ok || !srcs[1].ok || !srcs[2].ok || p != srcs[1].head.Path || p != srcs[2].head.Path {
			have := false
			for _, s := range srcs {
				if s.ok && (!have || tree.Compare(s.head.Path, p) < 0) {
					p, have = s.head.Path, true
				}
			}
		}
		var row [3]tree.Entry
		for i, s := range srcs {
			if s.ok && s.head.Path == p {
				row[i] = s.head
				if err := s.advance(ctx); err != nil {
					return g, err
				}
			}
		}
		a, l, r := row[0], row[1], row[2]
		if a.Path != "" {
			g.nAncestor++
			if a.Kind == tree.File {
				g.ancestorFiles++
			}
		}
		if l.Path != "" {
			g.nLocal++
		}
		if r.Path != "" {
			g.nRemote++
		}
		if !g.keptAll && settled(a, l, r) {
			continue
		}
		if a.Path != "" {
			g.ancestor = append(g.ancestor, a)
		}
		if l.Path != "" {
			g.local = append(g.local, l)
		}
		if r.Path != "" {
			g.remote = append(g.remote, r)
		}
		if !batching {
			continue
		}
		for len(open) > 0 && !tree.IsBelow(p, rowPath(open[len(open)-1])) {
			open = open[:len(open)-1]
		}
		if a.Kind == tree.Dir || l.Kind == tree.Dir || r.Kind == tree.Dir {
			open = append(open, row)
		}
		if rows++; rows >= b.size && tree.Compare(p, b.from) >= 0 {
			if err := cut(!srcs[0].ok && !srcs[1].ok && !srcs[2].ok); err != nil {
				return g, err
			}
		}
	}
	if g.batched && rows > len(context) {
		if err := cut(true); err != nil {
			return g, err
		}
	}
	if g.batched {
		g.ancestor, g.local, g.remote = nil, nil, nil
	}
	return g, nil
}

// rowPath is the path of a merged row.
func rowPath(row [3]tree.Entry) string {
	for _, e := range row {
		if e.Path != "" {
			return e.Path
		}
	}
	return ""
}

// contentKey is what a local copy matches on.
type contentKey struct {
	size int64
	hash uint64
}

// wantedContent returns the content the plan sends as new files, which a
// side might instead copy from a file it keeps, and the content it copies
// already (a settled file earlier in the tree is the copy source Reconcile
// of the whole listings would choose).
func wantedContent(p *Plan) map[contentKey]bool {
	var want map[contentKey]bool
	for _, ops := range [][]Op{p.Local, p.Remote} {
		for _, op := range ops {
			if (op.Kind == OpCopy || op.Kind == OpTransfer && !op.Expect.Exists()) && reusable(op.Entry, op.Entry) {
				if want == nil {
					want = map[contentKey]bool{}
				}
				want[contentKey{op.Entry.Size, op.Entry.Hash}] = true
			}
		}
	}
	return want
}

// addCopySources puts back into g, on every list, the settled files the
// merge dropped whose content is in want (the first of each), read again
// from anc, so that Reconcile can choose them as local copy sources. It
// reports whether it added any. A settled path is one of anc's paths that
// g.ancestor does not keep.
func addCopySources(ctx context.Context, g *gathered, anc source, want map[contentKey]bool) (bool, error) {
	var found []tree.Entry
	kept := g.ancestor
	for len(want) > 0 {
		e, ok, err := anc.next(ctx)
		if err != nil {
			return false, err
		}
		if !ok {
			break
		}
		for len(kept) > 0 && tree.Compare(kept[0].Path, e.Path) < 0 {
			kept = kept[1:]
		}
		if len(kept) > 0 && kept[0].Path == e.Path {
			continue
		}
		k := contentKey{e.Size, e.Hash}
		if e.Kind == tree.File && want[k] {
			delete(want, k)
			found = append(found, e)
		}
	}
	if len(found) == 0 {
		return false, nil
	}
	g.ancestor = mergeSorted(g.ancestor, found)
	g.local = mergeSorted(g.local, found)
	g.remote = mergeSorted(g.remote, found)
	return true, nil
}

// mergeSorted merges two lists sorted by tree.Compare with no path in both.
func mergeSorted(a, b []tree.Entry) []tree.Entry {
	out := make([]tree.Entry, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if tree.Compare(a[0].Path, b[0].Path) < 0 {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	out = append(out, a...)
	return append(out, b...)
}

// listSource reads a slice as a source (tests; a pass without ancestor).
type listSource struct{ list []tree.Entry }

func (s *listSource) next(context.Context) (tree.Entry, bool, error) {
	if len(s.list) == 0 {
		return tree.Entry{}, false, nil
	}
	e := s.list[0]
	s.list = s.list[1:]
	return e, true, nil
}
