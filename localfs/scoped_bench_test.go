package localfs

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
)

// BenchmarkScopedPass is what a continuous job pays for one changed file
// in a large tree: a pass scoped to that file's path (what the agent now
// runs) against a whole pass (what it ran before), both over two local
// folders with their scan caches warm, as `ferry run` holds them. Each
// op edits one file on the local side and syncs it. The tree is
// -ferry.files files (e.g. -ferry.files=200000), generated as the scale
// benchmarks generate it.
func BenchmarkScopedPass(b *testing.B) {
	local, remote, files := scaleTrees(b)
	cfg, job := scaleJob(b, local, remote, b.TempDir())
	db, err := snapshot.Open(cfg.DBPath(job.Name))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var eps [2]endpoint.Endpoint
	var caches []syncer.Committer
	for i, root := range []string{job.Local, job.Remote} {
		c, err := db.Cache([]string{syncer.SideLocal, syncer.SideRemote}[i])
		if err != nil {
			b.Fatal(err)
		}
		f, err := New(root, Options{Cache: c, PartialSuffix: job.PartialSuffix})
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		eps[i], caches = f, append(caches, c)
	}
	pass := func(within []string) snapshot.PassRecord {
		rec, err := syncer.Pass(context.Background(), syncer.Options{Job: *job, Local: eps[0], Remote: eps[1], DB: db, Caches: caches, Within: within})
		if err != nil {
			b.Fatalf("pass: %v", err)
		}
		return rec
	}
	pass(nil) // records both trees as equal
	// The file each op edits: one deep in the tree.
	var edit string
	err = filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			edit, _ = filepath.Rel(local, p)
		}
		return err
	})
	if err != nil || edit == "" {
		b.Fatalf("no file to edit: %v", err)
	}
	edit = filepath.ToSlash(edit)
	mtime := time.Now()
	for _, c := range []struct {
		name   string
		within []string
	}{{"whole", nil}, {"scoped", []string{edit}}} {
		b.Run(c.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				mtime = mtime.Add(time.Second)
				full := filepath.Join(local, filepath.FromSlash(edit))
				if err := os.WriteFile(full, fmt.Appendf(nil, "%s edit %d", c.name, i), 0o644); err != nil {
					b.Fatal(err)
				}
				if err := os.Chtimes(full, mtime, mtime); err != nil {
					b.Fatal(err)
				}
				rec := pass(c.within)
				if rec.Updated != 1 || (rec.Scoped > 0) != (c.within != nil) {
					b.Fatalf("pass: updated %d, scoped %d", rec.Updated, rec.Scoped)
				}
			}
			b.ReportMetric(float64(files), "files")
			b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/pass")
		})
	}
}
