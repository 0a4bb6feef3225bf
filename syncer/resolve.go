package syncer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/conflict"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
	"github.com/ferry-sync/ferry/versions"
)

// Resolve settles the listed unresolved conflicts the way Aspera Sync does,
// by renaming: on the receiving side (local, except in local-to-remote
// jobs, where it is the remote) the path is renamed to a conflict copy name
// free on both sides (NAME.conflict-mine.EXT, -2, -3... when taken), then the sending
// side's version, if it has one, is copied to the path, and the conflict
// record is cleared. In two-way jobs the local side is the one renamed and
// the copy syncs to the remote on the next pass like any new file. A
// conflict already settled by a rename during a pass (its record names a
// copy) only has its record cleared. The path's ancestor entry is forgotten
// so the next pass re-agrees on it from what is on disk. Every path must be
// in the conflict list; if one is not, nothing is done and the error names
// all such paths.
func Resolve(ctx context.Context, opts Options, paths []string) error {
	opts.defaults()
	// What a resolution replaces or deletes is kept as such.
	ctx = versions.WithReason(ctx, versions.Resolve)
	records, err := opts.DB.Conflicts()
	if err != nil {
		return err
	}
	byPath := make(map[string]conflict.Record, len(records))
	for _, r := range records {
		byPath[r.Path] = r
	}
	var unknown []string
	for _, p := range paths {
		if _, ok := byPath[p]; !ok {
			unknown = append(unknown, fmt.Sprintf("%q", p))
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unable to resolve: not in the conflict list of job %s: %s (run `ferry conflicts` to see the list)",
			opts.Job.Name, strings.Join(unknown, ", "))
	}
	w := opts.DB.Writer()
	for _, p := range paths {
		if err := resolveOne(ctx, &opts, byPath[p]); err != nil {
			_ = w.Flush()
			return fmt.Errorf("unable to resolve the conflict on %q: %w", p, err)
		}
		for _, n := range append([]string{p}, byPath[p].Names()...) {
			if err := w.Forget(n); err != nil {
				return err
			}
		}
		if err := opts.DB.ClearConflict(p); err != nil {
			return err
		}
		opts.Log.Info("conflict resolved", "job", opts.Job.Name, "path", p)
	}
	return w.Flush()
}

func resolveOne(ctx context.Context, opts *Options, r conflict.Record) error {
	if r.Copy != "" {
		return nil
	}
	if len(r.Clash) > 0 {
		return resolveClash(ctx, opts, r)
	}
	recv, send := opts.Local, opts.Remote
	if opts.Job.Direction == config.LocalToRemote {
		recv, send = opts.Remote, opts.Local
	}
	mine, err := statOrAbsent(ctx, recv, r.Path)
	if err != nil {
		return err
	}
	theirs, err := statOrAbsent(ctx, send, r.Path)
	if err != nil {
		return err
	}
	if mine.Exists() {
		name, err := conflict.FreeName(r.Path, takenAnywhere(ctx, [2]endpoint.Endpoint{opts.Local, opts.Remote}, nil))
		if err != nil {
			return err
		}
		if err := recv.Rename(ctx, r.Path, name, mine); err != nil {
			return err
		}
		opts.Log.Info("conflict copy made", "job", opts.Job.Name, "path", r.Path, "copy", name)
	}
	switch theirs.Kind {
	case tree.File:
		_, err := copyFile(ctx, send, recv, endpoint.Transfer{Source: theirs}, func(string, int64, bool) {})
		return err
	case tree.Dir:
		// Its content follows on the next pass.
		return recv.Mkdir(ctx, r.Path, theirs.Mode)
	case tree.Symlink:
		return recv.Symlink(ctx, r.Path, theirs.Target, tree.Entry{})
	}
	return nil
}

func statOrAbsent(ctx context.Context, ep endpoint.Endpoint, p string) (tree.Entry, error) {
	e, err := ep.Stat(ctx, p)
	if errors.Is(err, fs.ErrNotExist) {
		return tree.Entry{Path: p}, nil
	}
	return e, err
}

// resolveClash settles a case or normalisation clash by renaming every
// colliding name but one, where it is, to a conflict copy name that is free
// on both sides and collides with no other name chosen here, even on a
// filesystem that folds case and normalisation. The name kept is one both
// sides hold, else the first. The next pass syncs them all like new files.
func resolveClash(ctx context.Context, opts *Options, r conflict.Record) error {
	keep := 0
	for i, n := range r.Clash {
		if n.Local && n.Remote {
			keep = i
			break
		}
	}
	fold := endpoint.Folding{Case: true, Normalization: true}
	chosen := map[string]bool{fold.Key(r.Clash[keep].Path): true}
	taken := takenAnywhere(ctx, [2]endpoint.Endpoint{opts.Local, opts.Remote}, nil)
	free := func(p string) (bool, error) {
		if chosen[fold.Key(p)] {
			return true, nil
		}
		return taken(p)
	}
	for i, n := range r.Clash {
		if i == keep {
			continue
		}
		name, err := conflict.FreeName(n.Path, free)
		if err != nil {
			return err
		}
		chosen[fold.Key(name)] = true
		for _, side := range []struct {
			holds bool
			ep    endpoint.Endpoint
			name  string
		}{{n.Local, opts.Local, SideLocal}, {n.Remote, opts.Remote, SideRemote}} {
			if !side.holds {
				continue
			}
			cur, err := side.ep.Stat(ctx, n.Path)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			if err := side.ep.Rename(ctx, n.Path, name, cur); err != nil {
				return fmt.Errorf("unable to rename %q on the %s side: %w", n.Path, side.name, err)
			}
			opts.Log.Info("clashing name renamed", "job", opts.Job.Name, "side", side.name, "path", n.Path, "copy", name)
		}
	}
	return nil
}
