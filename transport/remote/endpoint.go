package remote

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"

	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/tree"
)

var (
	_ endpoint.Endpoint = (*Endpoint)(nil)
	_ endpoint.Batch    = (*Endpoint)(nil)
)

// maxWithinBytes bounds the paths a scan request carries as its Within
// hint: the request travels in one SSH channel-open message. Past it the
// hint is left out and the server lists everything.
const maxWithinBytes = 16 << 10

func withinFits(within []string) bool {
	n := 0
	for _, p := range within {
		if n += len(p) + 2; n > maxWithinBytes {
			return false
		}
	}
	return len(within) > 0
}

// Scan streams the server's listing, checking that it is in tree.Compare
// order and that every path is valid, so a broken or hostile server cannot
// make the engine act on a path outside the local root.
//
// opts.Within is sent when the server may know it and it is small enough
// for a request; a server that does not know it lists everything, which
// the hint allows.
func (e *Endpoint) Scan(ctx context.Context, opts endpoint.ScanOptions, visit func(tree.Entry) error) error {
	req := control.Scan{Exclude: opts.Exclude, PartialSuffix: opts.PartialSuffix, KeepStale: opts.KeepStale}
	if !e.noWithin.Load() && withinFits(opts.Within) {
		req.Within = opts.Within
	}
	k, err := e.openOn(ctx, req)
	if refused := (*refusedError)(nil); len(req.Within) > 0 && errors.As(err, &refused) && refused.reason == ssh.Prohibited {
		// A server older than Within: it cannot parse the request.
		e.noWithin.Store(true)
		req.Within = nil
		k, err = e.openOn(ctx, req)
	}
	if err != nil {
		return fmt.Errorf("unable to scan remote folder: %w", err)
	}
	defer k.close()
	prev := ""
	for {
		m, err := k.recv()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("unable to scan remote folder: %w", err)
		}
		switch m := m.(type) {
		case control.Entries:
			for _, en := range m.Entries {
				// A batch holds many entries: a cancel must stop the
				// visits in the middle of one.
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := tree.ValidPath(en.Path); err != nil {
					return fmt.Errorf("%w: server listed an invalid path: %w", control.ErrProtocol, err)
				}
				if prev != "" && tree.Compare(prev, en.Path) >= 0 {
					return fmt.Errorf("%w: server listing out of order at %q after %q", control.ErrProtocol, en.Path, prev)
				}
				prev = en.Path
				if err := visit(en); err != nil {
					return err
				}
			}
		case control.OK:
			return ctx.Err()
		default:
			return fmt.Errorf("%w: %T in a scan", control.ErrProtocol, m)
		}
	}
}

func (e *Endpoint) Stat(ctx context.Context, path string) (tree.Entry, error) {
	m, err := expect[control.EntryMsg](e.do(ctx, control.Stat{Path: path}))
	return m.Entry, err
}

func (e *Endpoint) Mkdir(ctx context.Context, path string, mode fs.FileMode) error {
	_, err := expect[control.OK](e.do(ctx, control.Mkdir{Path: path, Mode: mode.Perm()}))
	return err
}

func (e *Endpoint) Symlink(ctx context.Context, path, target string, expectE tree.Entry) error {
	_, err := expect[control.OK](e.do(ctx, control.Symlink{Path: path, Target: target, Expect: expectE}))
	return err
}

func (e *Endpoint) Remove(ctx context.Context, path string, expectE tree.Entry) error {
	_, err := expect[control.OK](e.do(ctx, control.Remove{Path: path, Expect: expectE}))
	return err
}

func (e *Endpoint) Rename(ctx context.Context, from, to string, expectE tree.Entry) error {
	_, err := expect[control.OK](e.do(ctx, control.Rename{From: from, To: to, Expect: expectE}))
	return err
}

// CopyFile asks the server to copy a file within its folder: the content
// never crosses the link.
func (e *Endpoint) CopyFile(ctx context.Context, from string, fromExpect, meta, expectE tree.Entry) error {
	_, err := expect[control.OK](e.do(ctx, control.Copy{From: from, FromExpect: fromExpect, Meta: meta, Expect: expectE}))
	return err
}

// statManyBatch is how many paths one StatMany request carries.
const statManyBatch = 4096

var _ endpoint.BatchStater = (*Endpoint)(nil)

// StatMany lstats many paths in a round trip per 4,096 of them: an entry
// per path, in order, Kind Absent where nothing is, Problem set where the
// stat failed.
func (e *Endpoint) StatMany(ctx context.Context, paths []string) ([]tree.Entry, error) {
	out := make([]tree.Entry, 0, len(paths))
	for len(paths) > 0 {
		n := min(len(paths), statManyBatch)
		es, err := expect[control.Entries](e.do(ctx, control.StatMany{Paths: paths[:n]}))
		if err != nil {
			return nil, err
		}
		if len(es.Entries) != n {
			return nil, fmt.Errorf("%w: %d entries in answer to a stat of %d paths", control.ErrProtocol, len(es.Entries), n)
		}
		for i, en := range es.Entries {
			if en.Path != paths[i] {
				return nil, fmt.Errorf("%w: stat of %s answered for %s", control.ErrProtocol, paths[i], en.Path)
			}
		}
		out = append(out, es.Entries...)
		paths = paths[n:]
	}
	return out, nil
}

// Digests asks the server for strong digests of its files, 4,096 a
// round trip.
func (e *Endpoint) Digests(ctx context.Context, files []tree.Entry) ([]chunk.Digest, error) {
	out := make([]chunk.Digest, 0, len(files))
	for len(files) > 0 {
		n := min(len(files), statManyBatch)
		dl, err := expect[control.DigestList](e.do(ctx, control.Digests{Files: files[:n]}))
		if err != nil {
			return nil, err
		}
		if len(dl.Digests) != n {
			return nil, fmt.Errorf("%w: %d digests in answer to %d files", control.ErrProtocol, len(dl.Digests), n)
		}
		out = append(out, dl.Digests...)
		files = files[n:]
	}
	return out, nil
}

// Chunks asks the server for the chunk list of one of its files.
func (e *Endpoint) Chunks(ctx context.Context, path string, expectE tree.Entry) (chunk.List, error) {
	cl, err := expect[control.ChunkList](e.do(ctx, control.Chunks{Path: path, Expect: expectE}))
	if err != nil {
		return chunk.List{}, err
	}
	if cl.Path != path || cl.List.Total != expectE.Size {
		return chunk.List{}, fmt.Errorf("%w: chunk list of %s answered for %s, %d bytes", control.ErrProtocol, path, cl.Path, cl.List.Total)
	}
	return cl.List, nil
}

func (e *Endpoint) SetMeta(ctx context.Context, path string, mode fs.FileMode, mtime int64) error {
	_, err := expect[control.OK](e.do(ctx, control.SetMeta{Path: path, Mode: mode.Perm(), Mtime: mtime}))
	return err
}

// Caps: the server's folder takes every operation.
func (e *Endpoint) Caps() endpoint.Caps { return endpoint.Caps{} }

// Folding asks the server whether its folder folds case and Unicode
// normalisation, once per endpoint.
func (e *Endpoint) Folding(ctx context.Context) (endpoint.Folding, error) {
	e.mu.Lock()
	f, done := e.folding, e.haveFolding
	e.mu.Unlock()
	if done {
		return f, nil
	}
	m, err := expect[control.Folded](e.do(ctx, control.Folding{}))
	if err != nil {
		return endpoint.Folding{}, fmt.Errorf("unable to learn whether the server's folder folds case: %w", err)
	}
	f = endpoint.Folding{Case: m.Case, Normalization: m.Normalization}
	e.mu.Lock()
	e.folding, e.haveFolding = f, true
	e.mu.Unlock()
	return f, nil
}

func (e *Endpoint) FreeSpace(ctx context.Context) (endpoint.Space, error) {
	m, err := expect[control.Space](e.do(ctx, control.FreeSpace{}))
	return endpoint.Space{Free: m.Free, Total: m.Total}, err
}
