package remote

import (
	"context"
	"fmt"
	"sync"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/transport/data"
	"github.com/ferry-sync/ferry/tree"
)

// listWorkers bounds the chunk lists asked for or computed at once.
const listWorkers = 4

// uploadLists returns, by path, the chunk lists of the items src can give
// one for (endpoint.ListFor), a few at a time. A file without a list goes
// whole.
func (e *Endpoint) uploadLists(ctx context.Context, items []endpoint.Transfer, src endpoint.Endpoint) map[string]chunk.List {
	var todo []endpoint.Transfer
	for _, it := range items {
		if endpoint.ReuseCandidate(it) {
			todo = append(todo, it)
		}
	}
	out := make(map[string]chunk.List, len(todo))
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan endpoint.Transfer)
	for range min(listWorkers, len(todo)) {
		wg.Go(func() {
			for it := range next {
				if ctx.Err() != nil {
					continue
				}
				if l, ok := endpoint.ListFor(ctx, src, it); ok {
					mu.Lock()
					out[it.Source.Path] = l
					mu.Unlock()
				}
			}
		})
	}
	for _, it := range todo {
		next <- it
	}
	close(next)
	wg.Wait()
	return out
}

// downloadLists asks the server, in a round trip per 4,096 files, for the
// chunk lists of the items worth one: a delta candidate's (computed if the
// server kept none), and a new file's only if the server's scan kept it,
// since the agent may hold its chunks in other files. A file without a list
// is fetched whole.
func (e *Endpoint) downloadLists(ctx context.Context, items []endpoint.Transfer) map[string]chunk.List {
	var read, kept []tree.Entry
	want := map[string]tree.Entry{}
	for _, it := range items {
		switch {
		case endpoint.DeltaCandidate(it):
			read = append(read, it.Source)
		case endpoint.ReuseCandidate(it):
			kept = append(kept, it.Source)
		default:
			continue
		}
		want[it.Source.Path] = it.Source
	}
	out := map[string]chunk.List{}
	for len(read)+len(kept) > 0 {
		nr := min(len(read), statManyBatch)
		nk := min(len(kept), statManyBatch-nr)
		k, err := e.openOn(ctx, control.ChunksMany{Read: read[:nr], Kept: kept[:nk]})
		if err != nil {
			e.log.Debug("no chunk lists; files go whole", "err", err)
			return out
		}
		for {
			m, err := k.recv()
			if err != nil {
				k.close()
				e.log.Debug("chunk lists cut short; files go whole", "err", err)
				return out
			}
			if _, done := m.(control.OK); done {
				break
			}
			cl, ok := m.(control.ChunkList)
			src, asked := want[cl.Path]
			if !ok || !asked || cl.Hash != src.Hash || cl.List.Total != src.Size {
				k.close()
				e.log.Debug("unexpected answer to a chunk list request; files go whole", "msg", fmt.Sprintf("%T", m))
				return out
			}
			out[cl.Path] = cl.List
		}
		k.close()
		read, kept = read[nr:], kept[nk:]
	}
	return out
}

// seedFrom is a data receiver's Seed over dst: a file with a chunk list
// in lists starts from the chunks its current version in dst (as items
// expect it) shares.
func seedFrom(dst endpoint.Endpoint, items []endpoint.Transfer, lists map[string]chunk.List) func(context.Context, data.FileInfo, endpoint.FileWriter) ([]chunk.Range, error) {
	expect := make(map[string]tree.Entry, len(lists))
	for _, it := range items {
		if _, ok := lists[it.Source.Path]; ok {
			expect[it.Source.Path] = it.Expect
		}
	}
	return func(ctx context.Context, f data.FileInfo, w endpoint.FileWriter) ([]chunk.Range, error) {
		l, ok := lists[f.Path]
		if !ok || l.Total != f.Size {
			return nil, nil
		}
		return endpoint.SeedFrom(ctx, dst, expect[f.Path], w, l)
	}
}

// sendLists sends, on an upload's data session channel, the chunk lists
// of the files the server may build from their current versions, then
// OK. The server waits for the OK before starting any such file, and
// starts new files at once.
func (e *Endpoint) sendLists(ctx context.Context, k *channel, items []endpoint.Transfer, src endpoint.Endpoint) error {
	lists := e.uploadLists(ctx, items, src)
	for _, it := range items {
		if l, ok := lists[it.Source.Path]; ok {
			if err := k.send(control.ChunkList{Path: it.Source.Path, Hash: it.Source.Hash, List: l}); err != nil {
				return err
			}
		}
	}
	return k.send(control.OK{})
}
