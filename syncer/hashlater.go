package syncer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// A first sync of many small files read each file twice: the scan read it
// to hash it, the copy read it again. When nothing compares a file before
// it is copied, the hash can wait for the copy, which reads the file
// anyway (endpoint.HashingReader): the scan lists it unhashed
// (endpoint.ScanOptions.HashLater), and the copy's hash is what the
// snapshot records and the scan cache keeps.
//
// A hash of 0 must never be compared as a content: two unhashed files of
// one size would look the same. So a file is left unhashed only on a side
// that sends (its files either go to the other side or are compared), only
// on a first sync (nothing in the ancestor to compare with), and a file
// the other side or the ancestor lists too is hashed before reconcile, by
// scanning those paths again (hashCompared). Renames and local copies
// never match an unhashed file (reusable requires a hash).

// hashLater says which sides' scans may leave files unhashed: the sides
// that send, on a real, whole first sync (no pair recorded yet) between
// endpoints that hash as they copy (Options.HashWhileCopying).
func hashLater(opts *Options, pair string, dryRun, scoped bool) [2]bool {
	if !opts.HashWhileCopying || pair != "" || dryRun || scoped {
		return [2]bool{}
	}
	d := opts.Job.Direction
	return [2]bool{d != config.RemoteToLocal, d != config.LocalToRemote}
}

// hashCompared hashes the files a scan left unhashed (later) whose path
// the other side or the ancestor lists too, as reconcile compares their
// content: each is read whole through its endpoint's HashingReader, which
// checks that it did not change while read and keeps the hash for the
// next scan. It reads rather than scans those paths again, because a
// batched first sync calls it for each batch while the scans still run
// (firstSync.apply). A file that changed, is gone or is no longer a file
// is marked with a problem, so that this pass leaves it and the next one
// looks again. The context paths of a batch (skip) are not hashed: an earlier
// batch decided and applied them (they may be gone or moved aside by
// now), they are directories on at least one side, so their decision
// does not turn on a hash, and their ops are dropped (withoutContext).
func hashCompared(ctx context.Context, opts *Options, got *gathered, later [2]bool, skip []string) error {
	lists := [2][]tree.Entry{got.local, got.remote}
	eps := [2]endpoint.Endpoint{opts.Local, opts.Remote}
	for i := range 2 {
		if !later[i] {
			continue
		}
		other, anc := 0, 0
		var need []int
		for k := range lists[i] {
			e := &lists[i][k]
			if e.Kind != tree.File || e.Hash != 0 || e.Problem != "" || slices.Contains(skip, e.Path) {
				continue
			}
			if listed(lists[1-i], &other, e.Path) || listed(got.ancestor, &anc, e.Path) {
				need = append(need, k)
			}
		}
		if len(need) == 0 {
			continue
		}
		// Read by several at once, as the scan hashes (two equal trees
		// name every file here); each writes only its own entry.
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(hashReaders)
		for _, k := range need {
			e := &lists[i][k]
			g.Go(func() error {
				h, err := hashByReading(gctx, eps[i], *e)
				switch {
				case err == nil:
					e.Hash = h
				case gctx.Err() != nil:
					return gctx.Err()
				default:
					opts.Log.Debug("unable to hash a file both sides hold", "job", opts.Job.Name, "side", sideNames[i], "path", e.Path, "err", err)
					e.Problem = "changed while hashing"
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		opts.Log.Debug("hashed files both sides hold", "job", opts.Job.Name, "side", sideNames[i], "files", len(need))
	}
	return nil
}

// hashReaders is how many files hashCompared reads at once.
const hashReaders = 8

// hashByReading reads e whole from ep and returns its hash, checked by
// the reader against e (endpoint.HashingReader.Sum).
func hashByReading(ctx context.Context, ep endpoint.Endpoint, e tree.Entry) (uint64, error) {
	r, err := ep.OpenFile(ctx, e.Path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	hr, ok := r.(endpoint.HashingReader)
	if !ok {
		return 0, fmt.Errorf("unable to hash %q as it is read: the endpoint's reader does not hash", e.Path)
	}
	if r.Size() != e.Size {
		return 0, fmt.Errorf("unable to hash %q: it is %d bytes now, %d when scanned: %w", e.Path, r.Size(), e.Size, endpoint.ErrChanged)
	}
	buf := make([]byte, min(e.Size, 256<<10))
	for off := int64(0); off < e.Size; {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n, err := r.ReadAt(buf[:min(int64(len(buf)), e.Size-off)], off)
		off += int64(n)
		if err != nil && !(errors.Is(err, io.EOF) && off == e.Size) {
			return 0, fmt.Errorf("unable to read %q to hash it: %w", e.Path, err)
		}
	}
	return hr.Sum(e)
}

// listed reports whether the sorted list holds p, moving *j, its cursor,
// on to p: the calls must come in tree.Compare order of p.
func listed(list []tree.Entry, j *int, p string) bool {
	for *j < len(list) && tree.Compare(list[*j].Path, p) < 0 {
		*j++
	}
	return *j < len(list) && list[*j].Path == p
}
