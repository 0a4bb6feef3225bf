package remote

import (
	"context"
	"errors"
	"sync"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/cc"
	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/transport/data"
	"github.com/ferry-sync/ferry/tree"
)

// splitAlign is where split files are cut: the receiver's resume chunk,
// so a resumed part offers whole chunks.
const splitAlign = data.DefaultChunkSize

// laneItem is one file (or one part of one) a lane carries.
type laneItem struct {
	i    int         // index into the batch's items
	part chunk.Range // zero: the whole file
}

// planLanes spreads a batch over the job's sessions (Options.Sessions): a
// file that data.SplitFile cuts goes as one part to each of the first
// lanes, every other file whole to the lane with the fewest bytes so far.
// One lane (or none) means the batch runs as one session.
func (e *Endpoint) planLanes(items []endpoint.Transfer) [][]laneItem {
	e.mu.Lock()
	n, splitAt := e.opts.Sessions, e.opts.MultiSessionThreshold
	e.mu.Unlock()
	return planLanes(items, n, splitAt)
}

func planLanes(items []endpoint.Transfer, n int, splitAt int64) [][]laneItem {
	if n < 2 || len(items) == 0 {
		return nil
	}
	lanes := make([][]laneItem, n)
	load := make([]int64, n)
	for i, it := range items {
		if parts := data.SplitFile(it.Source.Size, splitAt, n, splitAlign); it.Source.Kind == tree.File && parts != nil {
			for l, p := range parts {
				lanes[l] = append(lanes[l], laneItem{i: i, part: p})
				load[l] += p.Len
			}
			continue
		}
		l := 0
		for k := range load {
			if load[k] < load[l] {
				l = k
			}
		}
		lanes[l] = append(lanes[l], laneItem{i: i})
		// A file costs at least a packet's worth, so many empty files
		// still spread.
		load[l] += max(it.Source.Size, 1<<10)
	}
	out := lanes[:0]
	for _, l := range lanes {
		if len(l) > 0 {
			out = append(out, l)
		}
	}
	if len(out) < 2 {
		return nil
	}
	return out
}

// laneBatch is one lane's share of a batch.
func laneBatch(items []endpoint.Transfer, lane []laneItem) ([]endpoint.Transfer, []chunk.Range) {
	sub := make([]endpoint.Transfer, len(lane))
	parts := make([]chunk.Range, len(lane))
	for k, li := range lane {
		sub[k], parts[k] = items[li.i], li.part
	}
	return sub, parts
}

// laneRequest is the DataSession of lane l of lanes.
func laneRequest(download bool, l, lanes int, splitAt int64) control.DataSession {
	req := sessionRequest(download)
	req.Lane, req.Lanes, req.SplitAt, req.Align = uint32(l), uint32(lanes), splitAt, splitAlign
	return req
}

// runLanes runs one data session per lane at once, each negotiated on c
// and run by run, and gathers their results: an item fails if any of its
// parts did. The session error is the first lane's that is not ErrNoUDP,
// or ErrNoUDP when every lane failed for want of UDP (the caller then
// falls back to the SSH stream).
func (e *Endpoint) runLanes(ctx context.Context, c *conn, items []endpoint.Transfer, plan [][]laneItem, download bool,
	run func(ds *dataSession, sub []endpoint.Transfer, parts []chunk.Range) ([]error, *data.Stats, error)) ([]error, error) {
	e.mu.Lock()
	splitAt := e.opts.MultiSessionThreshold
	e.mu.Unlock()
	errs := make([]error, len(items))
	serrs := make([]error, len(plan))
	stats := make([]*data.Stats, len(plan))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for l, lane := range plan {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub, parts := laneBatch(items, lane)
			var lerrs []error
			ds, err := e.startSession(ctx, c, laneRequest(download, l, len(plan), splitAt), sessionEntries(sub, download))
			if err != nil {
				lerrs, serrs[l] = fill(len(sub), err), err
			} else {
				lerrs, stats[l], serrs[l] = run(ds, sub, parts)
				ds.close()
			}
			mu.Lock()
			defer mu.Unlock()
			for k, li := range lane {
				if lerrs[k] != nil && errs[li.i] == nil {
					errs[li.i] = lerrs[k]
				}
			}
		}()
	}
	wg.Wait()
	var ran []data.Stats
	for _, st := range stats {
		if st != nil {
			ran = append(ran, *st)
		}
	}
	if len(ran) > 0 {
		e.remember(data.Sum(ran...))
	}
	e.log.Debug("data sessions ended", "download", download, "sessions", len(plan), "ran", len(ran))
	var serr error
	noUDP := 0
	for _, err := range serrs {
		switch {
		case err == nil:
		case errors.Is(err, data.ErrNoUDP):
			noUDP++
		case serr == nil:
			serr = err
		}
	}
	if serr == nil && noUDP == len(plan) {
		serr = serrs[0]
	}
	return errs, serr
}

func (e *Endpoint) uploadLanes(ctx context.Context, c *conn, items []endpoint.Transfer, plan [][]laneItem, src endpoint.Endpoint, progress endpoint.Progress, hashed *sums) ([]error, error) {
	return e.runLanes(ctx, c, items, plan, false, func(ds *dataSession, sub []endpoint.Transfer, parts []chunk.Range) ([]error, *data.Stats, error) {
		return e.sendOn(ctx, ds, sub, parts, len(plan), src, progress, hashed)
	})
}

func (e *Endpoint) downloadLanes(ctx context.Context, c *conn, items []endpoint.Transfer, plan [][]laneItem, dst endpoint.Endpoint, progress endpoint.Progress, lists map[string]chunk.List) ([]error, error) {
	// The parts' one writer per file is opened under ctx, which outlives
	// every lane; what no lane completed is aborted at the end, partial
	// and checkpoint kept for the next attempt.
	joined := data.NewParts(ctx)
	defer joined.Close()
	return e.runLanes(ctx, c, items, plan, true, func(ds *dataSession, sub []endpoint.Transfer, parts []chunk.Range) ([]error, *data.Stats, error) {
		return e.receiveOn(ctx, ds, sub, parts, len(plan), joined, dst, progress, lists)
	})
}

// shareOf is one of lanes sessions' share of a rate policy: its target,
// floor and cap divided evenly, so that together they keep to the job's,
// and its Share of the transfer, so that together they keep one flow's
// queue and take one flow's share of a path they share with others.
func shareOf(c cc.Config, lanes int) cc.Config {
	if lanes > 1 {
		n := float64(lanes)
		c.TargetRate /= n
		c.MinRate /= n
		c.MaxRate /= n
		c.Share = 1 / n
	}
	return c
}

// partSize is how many bytes of items[i] a session carries.
func partSize(it endpoint.Transfer, parts []chunk.Range, i int) int64 {
	if parts != nil && parts[i].Len != 0 {
		return parts[i].Len
	}
	return it.Source.Size
}
