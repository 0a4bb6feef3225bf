package syncer

import (
	"context"
	"fmt"

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

// maxRehashPaths bounds the paths a scan of compared files names
// (ScanOptions.Within); with more, the side is scanned whole again.
const maxRehashPaths = 4096

// hashCompared hashes the files a scan left unhashed (later) whose path
// the other side or the ancestor lists too, as reconcile compares their
// content: each such side is scanned again, for those paths only and
// hashing. A file that is no longer a file, or is gone, is marked with a
// problem, so that this pass leaves it and the next one looks again.
func hashCompared(ctx context.Context, opts *Options, got *gathered, later [2]bool) error {
	lists := [2][]tree.Entry{got.local, got.remote}
	var need [2][]int // indexes into lists[i]
	for i := range 2 {
		if !later[i] {
			continue
		}
		other, anc := 0, 0
		for k, e := range lists[i] {
			if e.Kind != tree.File || e.Hash != 0 || e.Problem != "" {
				continue
			}
			if listed(lists[1-i], &other, e.Path) || listed(got.ancestor, &anc, e.Path) {
				need[i] = append(need[i], k)
			}
		}
	}
	eps := [2]endpoint.Endpoint{opts.Local, opts.Remote}
	for i := range 2 {
		if len(need[i]) == 0 {
			continue
		}
		want := make(map[string]int, len(need[i]))
		paths := make([]string, 0, len(need[i]))
		for _, k := range need[i] {
			p := lists[i][k].Path
			want[p] = k
			paths = append(paths, p)
		}
		scan := endpoint.ScanOptions{Exclude: opts.Job.Exclude, PartialSuffix: opts.Job.PartialSuffix}
		if len(paths) <= maxRehashPaths {
			scan.Within = paths
		}
		fresh := make(map[string]tree.Entry, len(want))
		err := eps[i].Scan(ctx, scan, func(e tree.Entry) error {
			if _, ok := want[e.Path]; ok {
				fresh[e.Path] = e
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("unable to hash the %s files the other side holds too: %w", sideNames[i], err)
		}
		for p, k := range want {
			e, ok := fresh[p]
			if ok && e.Kind == tree.File && (e.Hash != 0 || e.Problem != "") {
				lists[i][k] = e
				continue
			}
			lists[i][k].Problem = "changed while hashing"
		}
		opts.Log.Debug("hashed files both sides hold", "job", opts.Job.Name, "side", sideNames[i], "files", len(want))
	}
	return nil
}

// listed reports whether the sorted list holds p, moving *j, its cursor,
// on to p: the calls must come in tree.Compare order of p.
func listed(list []tree.Entry, j *int, p string) bool {
	for *j < len(list) && tree.Compare(list[*j].Path, p) < 0 {
		*j++
	}
	return *j < len(list) && list[*j].Path == p
}
