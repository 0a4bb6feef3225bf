package syncer_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/localfs"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
)

// env is one job on two real temp folders and a real snapshot.
type env struct {
	t                   testing.TB
	localDir, remoteDir string
	db                  *snapshot.DB
	job                 config.Job
	// wrap, if set, wraps the endpoints a pass uses.
	wrap func(local, remote endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint)
	// clock gives files deterministic, increasing mtimes.
	clock time.Time
	// served, if set, serves remoteDir: passes reach it as a ferry://
	// remote through a real ferry serve instead of as a local folder.
	served *served
	// firstBatch, if not 0, is the passes' FirstSyncBatch.
	firstBatch int
}

func newEnv(t testing.TB) *env {
	base := t.TempDir()
	e := &env{
		t:         t,
		localDir:  filepath.Join(base, "local"),
		remoteDir: filepath.Join(base, "remote"),
		clock:     time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for _, d := range []string{e.localDir, e.remoteDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	db, err := snapshot.Open(filepath.Join(base, "state", "job.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db
	e.job = config.Job{
		Name: "test", Local: e.localDir, Remote: e.remoteDir,
		Direction: config.TwoWay, Conflicts: config.Rename,
		MaxDelete: config.Limit{IsPercent: true, Percent: 100},
		// The jobs file's default: the applier has none of its own.
		DiskSpaceWarning: config.DefaultDiskSpaceWarning,
	}
	return e
}

func (e *env) root(side string) string {
	if side == "local" {
		return e.localDir
	}
	return e.remoteDir
}

func (e *env) tick() time.Time {
	e.clock = e.clock.Add(time.Second)
	return e.clock
}

func (e *env) write(side, p, content string) {
	e.t.Helper()
	full := filepath.Join(e.root(side), filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
	now := e.tick()
	if err := os.Chtimes(full, now, now); err != nil {
		e.t.Fatal(err)
	}
}

// touch gives an edited file the next mtime of the scenario's clock.
func (e *env) touch(full string) {
	e.t.Helper()
	now := e.tick()
	if err := os.Chtimes(full, now, now); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) read(side, p string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(e.root(side), filepath.FromSlash(p)))
	if err != nil {
		return "", false
	}
	return string(b), true
}

// endpoints opens the local folder, and the remote one as a local folder
// too or, with served set, through ferry serve.
func (e *env) endpoints() (endpoint.Endpoint, endpoint.Endpoint) {
	e.t.Helper()
	// The folders' clock is the scenario's at the time they are opened
	// (it dates what the script writes): a partial the script wrote is as
	// fresh to the scan as it is to the script. A copy, because a wrapped
	// endpoint may write (and tick the clock) while the other side scans.
	opened := e.clock
	now := func() time.Time { return opened }
	l, err := localfs.New(e.localDir, localfs.Options{PartialSuffix: e.job.PartialSuffix, HashWorkers: 2, Now: now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { l.Close() })
	var le, re endpoint.Endpoint = l, nil
	if e.served != nil {
		r := e.served.dial(e.job, opened)
		e.t.Cleanup(func() { r.Close() })
		re = r
	} else {
		r, err := localfs.New(e.remoteDir, localfs.Options{PartialSuffix: e.job.PartialSuffix, HashWorkers: 2, Now: now})
		if err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(func() { r.Close() })
		re = r
	}
	if e.wrap != nil {
		le, re = e.wrap(le, re)
	}
	return le, re
}

func (e *env) options() syncer.Options {
	l, r := e.endpoints()
	return syncer.Options{Job: e.job, Local: l, Remote: r, DB: e.db, ConfigFile: "ferry.yaml", HashWhileCopying: e.served == nil,
		Now:            func() time.Time { return time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC) },
		FirstSyncBatch: e.firstBatch}
}

func (e *env) pass(ctx context.Context, allowDeletes bool) (snapshot.PassRecord, error) {
	o := e.options()
	o.AllowDeletes = allowDeletes
	return syncer.Pass(ctx, o)
}

// mustPass runs a pass that must succeed.
func (e *env) mustPass() snapshot.PassRecord {
	e.t.Helper()
	rec, err := e.pass(context.Background(), false)
	if err != nil {
		e.t.Fatalf("pass: %v", err)
	}
	return rec
}

// dump lists a folder: "path/" for directories, "path -> target" for
// links, "path 0644 \"content\"" for files.
func dump(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, root+string(filepath.Separator)))
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.IsDir():
			out = append(out, rel+"/")
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out = append(out, rel+" -> "+target)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				out = append(out, fmt.Sprintf("%s %04o unreadable", rel, info.Mode().Perm()))
				return nil
			}
			s := string(b)
			if len(s) > 40 {
				// Big content by size and a short xxhash: equal on both
				// sides means byte-exact, whatever the transfer did.
				s = fmt.Sprintf("%d bytes xxh=%08x", len(b), xxhash.Sum64(b)>>32)
			} else {
				s = fmt.Sprintf("%q", s)
			}
			out = append(out, fmt.Sprintf("%s %04o %s", rel, info.Mode().Perm(), s))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// summary prints a pass record as the goldens hold it. Bytes sent depend
// on the remote's transfer granularity, so they print as a share of the
// bytes brought in sync (sentShare), the same for every kind of remote.
func summary(rec snapshot.PassRecord) string {
	s := fmt.Sprintf("created=%d updated=%d deleted=%d renamed=%d copied=%d conflicts=%d problems=%d skipped=%d in_sync=%d %s",
		rec.Created, rec.Updated, rec.Deleted, rec.Renamed, rec.Copied, rec.Conflicts, rec.Problems, rec.Skipped, rec.InSync, sentShare(rec.Bytes, rec.InSync))
	if rec.Halted != "" {
		s += "\nhalted: " + rec.Halted
	}
	if rec.Halt != nil {
		s += "\nfix: " + strings.ReplaceAll(rec.Halt.Fix(), "\n", "\nfix: ")
	}
	return s
}

// sentShare tells how much of inSync crossed the link: "sent=0",
// "sent=all" (whole files), a bucket for a block delta ("sent<=1%" ...
// "sent<100%"), or the raw figure when more was sent than brought in sync.
func sentShare(sent, inSync int64) string {
	switch {
	case sent == 0:
		return "sent=0"
	case sent == inSync:
		return "sent=all"
	case sent > inSync:
		return fmt.Sprintf("sent=%d(>in_sync)", sent)
	}
	for _, pct := range []int64{1, 5, 25} {
		if sent*100 <= inSync*pct {
			return fmt.Sprintf("sent<=%d%%", pct)
		}
	}
	return "sent<100%"
}
