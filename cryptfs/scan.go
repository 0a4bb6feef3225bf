package cryptfs

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/ferry-sync/ferry/crypt"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/halt"
	"github.com/ferry-sync/ferry/tree"
)

// Scan lists the remote, decrypts names, takes each file's plaintext size
// and xxhash from its header (cached by cipher path, size and xxhash, so
// a scan of unchanged files reads none; the rest are read a few at a
// time) and visits everything in tree.Compare order of the plaintext
// paths. The whole listing is buffered to sort it.
//
// A name that does not decrypt is visited with Problem set (under its
// cipher name, below its parent's plaintext path), never dropped; what
// lies below such a directory cannot be named and is covered by it.
func (f *FS) Scan(ctx context.Context, opts endpoint.ScanOptions, visit func(tree.Entry) error) error {
	// A header made here but not yet written (nothing was changed since)
	// is made again: another agent may have made the remote's since, and
	// its keys are the ones to use.
	f.mu.Lock()
	if f.fresh {
		f.keys, f.fresh, f.header = nil, false, nil
	}
	f.mu.Unlock()
	k, err := f.unlock(ctx)
	if err != nil {
		return err
	}
	match, err := tree.NewMatcher(opts.Exclude)
	if err != nil {
		return fmt.Errorf("unable to scan: %w", err)
	}
	f.mu.Lock()
	fresh := f.fresh
	f.mu.Unlock()
	var (
		list     []seenEntry
		files    []int               // indexes in list of the files to find headers for
		bad      = map[string]bool{} // cipher dirs whose names do not decrypt
		excluded = map[string]bool{} // cipher dirs excluded
	)
	// opts.Within is not passed on, and not honoured: the inner paths are
	// encrypted names. Listing everything is what the hint allows.
	inner := endpoint.ScanOptions{PartialSuffix: opts.PartialSuffix, KeepStale: opts.KeepStale}
	err = f.inner.Scan(ctx, inner, func(ce tree.Entry) error {
		if ce.Path == crypt.HeaderName {
			return nil
		}
		if fresh {
			// Files and no header: plaintext, or another tool's.
			return &halt.Error{Kind: halt.NotEncrypted}
		}
		parent := tree.Parent(ce.Path)
		if bad[parent] || excluded[parent] {
			if ce.Kind == tree.Dir {
				if bad[parent] {
					bad[ce.Path] = true
				} else {
					excluded[ce.Path] = true
				}
			}
			return nil
		}
		pe := ce
		p, err := f.decPath(k, ce.Path)
		if err == nil {
			err = tree.ValidPath(p)
		}
		if err != nil {
			pp := ""
			if parent != "" {
				// The parent decrypted: it was visited.
				pp, _ = f.decPath(k, parent)
			}
			pe.Path = joinPath(pp, tree.Base(ce.Path))
			pe.Problem = fmt.Sprintf("its encrypted name %s on the remote does not decrypt with this job's key (renamed or moved on the server?): %v", ce.Path, err)
			if ce.Kind == tree.Dir {
				bad[ce.Path] = true
			}
			list = append(list, seenEntry{pe, ce})
			return nil
		}
		pe.Path = p
		// Skipped as the inner scan skips its own: under encrypted names
		// only the plaintext name tells an in-flight file.
		if match.Match(p, ce.Kind == tree.Dir) || tree.IsTemp(tree.Base(p), opts.PartialSuffix) {
			if ce.Kind == tree.Dir {
				excluded[ce.Path] = true
			}
			return nil
		}
		switch ce.Kind {
		case tree.File:
			if ce.Problem != "" {
				break
			}
			files = append(files, len(list))
		case tree.Symlink:
			if ce.Problem != "" {
				break
			}
			if pe.Target, err = f.decTarget(k, p, ce.Target); err != nil {
				pe.Target, pe.Problem = "", fmt.Sprintf("its encrypted target on the remote (%s) does not decrypt: %v", ce.Path, err)
			}
		}
		list = append(list, seenEntry{pe, ce})
		return nil
	})
	if err != nil {
		return err
	}
	// One read of the cache for every file; the rest are read from
	// their headers.
	keys := make([][]byte, len(files))
	for j, i := range files {
		keys[j] = headerKey(list[i].cipher.Path, list[i].cipher.Size, list[i].cipher.Hash)
	}
	metas, found := f.cache.headersOf(keys)
	var misses []int
	for j, i := range files {
		if found[j] && list[i].cipher.Hash != 0 {
			list[i].plain.Size, list[i].plain.Hash = metas[j].Size, metas[j].Hash
		} else {
			misses = append(misses, i)
		}
	}
	if err := f.readHeaders(ctx, k, list, misses); err != nil {
		return err
	}
	slices.SortFunc(list, func(a, b seenEntry) int { return tree.Compare(a.plain.Path, b.plain.Path) })
	seen := make(map[string]seenEntry, len(list))
	for _, s := range list {
		seen[s.plain.Path] = s
	}
	f.mu.Lock()
	f.seen = seen
	f.mu.Unlock()
	for _, s := range list {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := visit(s.plain); err != nil {
			return err
		}
	}
	return nil
}

// readHeaders reads the headers of the files at idx in list, a few at a
// time, fills in their plaintext size and xxhash, and caches them. A
// header that does not verify is that file's Problem.
func (f *FS) readHeaders(ctx context.Context, k *crypt.Keys, list []seenEntry, idx []int) error {
	if len(idx) == 0 {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(f.opts.HeaderWorkers)
	keys := make([][]byte, len(idx))
	metas := make([]crypt.Meta, len(idx))
	ok := make([]bool, len(idx))
	for j, i := range idx {
		g.Go(func() error {
			s := &list[i]
			r, err := f.inner.OpenFile(gctx, s.cipher.Path)
			if err != nil {
				if gctx.Err() != nil {
					return gctx.Err()
				}
				s.plain.Problem = fmt.Sprintf("unable to read the header of %s on the remote: %v", s.cipher.Path, err)
				return nil
			}
			defer r.Close()
			m, err := k.ReadHeader(r, s.cipher.Size, s.plain.Path)
			if err != nil {
				if !errors.Is(err, crypt.ErrTampered) && gctx.Err() != nil {
					return gctx.Err()
				}
				s.plain.Problem = fmt.Sprintf("its encrypted file %s on the remote does not verify: %v", s.cipher.Path, err)
				return nil
			}
			s.plain.Size, s.plain.Hash = m.Size, m.Hash
			if s.cipher.Hash != 0 {
				keys[j], metas[j], ok[j] = headerKey(s.cipher.Path, s.cipher.Size, s.cipher.Hash), m, true
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var ks [][]byte
	var ms []crypt.Meta
	for j := range idx {
		if ok[j] {
			ks, ms = append(ks, keys[j]), append(ms, metas[j])
		}
	}
	if err := f.cache.putHeaders(ks, ms); err != nil {
		f.opts.Log.Warn("unable to save the encrypted files' headers; the next scan reads them again", "err", err)
	}
	return nil
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
