package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/internal/watch"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
)

// limitedWatcher is a real watcher that holds at most limit watches and
// refuses more with ENOSPC, as inotify does at max_user_watches.
type limitedWatcher struct {
	watch.Watcher
	mu    sync.Mutex
	limit int
	held  map[string]bool
}

func (w *limitedWatcher) Add(name string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.held[name] && len(w.held) >= w.limit {
		return fmt.Errorf("%q: %w", name, syscall.ENOSPC)
	}
	if err := w.Watcher.Add(name); err != nil {
		return err
	}
	w.held[name] = true
	return nil
}

func (w *limitedWatcher) Remove(name string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.held, name)
	return w.Watcher.Remove(name)
}

func (w *limitedWatcher) raise(limit int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.limit = limit
}

// logRecords keeps every record logged, as text.
type logRecords struct {
	mu   sync.Mutex
	recs []string // "LEVEL message key=value ..."
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecords) WithGroup(string) slog.Handler            { return l }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value.Any())
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, b.String())
	return nil
}

// count returns how many records start with prefix and contain sub.
func (l *logRecords) count(prefix, sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		if strings.HasPrefix(r, prefix) && strings.Contains(r, sub) {
			n++
		}
	}
	return n
}

// TestWatchLimitPollsUnwatchedDirectories: a continuous job whose watcher
// reaches the inotify watch limit says so once, naming the sysctl to raise
// it, shows it in its status, and runs a pass every interval (on its
// clock), which syncs a change in a directory it could not watch; once the
// limit is raised, a poll pass watches everything and polling stops.
func TestWatchLimitPollsUnwatchedDirectories(t *testing.T) {
	local, remote := t.TempDir(), t.TempDir()
	for _, d := range []string{"a", "b"} {
		writeFile(t, filepath.Join(local, d, "old.txt"), d)
	}
	const interval, rescan = time.Minute, 24 * time.Hour
	job := config.Job{Name: "j", Local: local, Remote: remote, Direction: config.TwoWay, Mode: config.Continuous,
		Interval: interval, Cooloff: time.Second, RescanInterval: rescan, Retry: config.Retry{Attempts: 1, Interval: time.Minute}}
	logs := &logRecords{}
	clock := newFakeClock(mustTime(t, "2025-01-03 00:03:00"))
	a, err := New(testConfig(t, job), Options{OpenWith: openLocalFolders, Clock: clock, Log: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	// The job's root and a: b and the remote folder cannot be watched.
	lw := &limitedWatcher{limit: 2, held: map[string]bool{}}
	a.newWatcher = func() (watch.Watcher, error) {
		w, err := watch.NewFS()
		lw.Watcher = w
		return lw, err
	}
	passes := make(chan time.Time, 10)
	a.pass = func(ctx context.Context, opts syncer.Options) (snapshot.PassRecord, error) {
		start := clock.Now()
		rec, err := syncer.Pass(ctx, opts)
		passes <- start
		return rec, err
	}
	h := &harness{t: t, a: a, clock: clock}
	h.run()
	// nextPass waits until the job has taken in the end of its next pass.
	nextPass := func(what string) time.Time {
		t.Helper()
		select {
		case at := <-passes:
			waitFor(t, what+" taken in", func() bool {
				last := h.status("j").Last
				return last != nil && last.Start.Equal(at)
			})
			return at
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s within 10s", what)
			return time.Time{}
		}
	}
	const sysctl = "fs.inotify.max_user_watches"

	first := nextPass("first pass")
	waitNextPass(h, first.Add(interval)) // a poll, not the rescan a day away
	if n := logs.count("WARN", sysctl); n != 1 {
		t.Fatalf("%d warnings naming %s, want 1", n, sysctl)
	}
	u := h.status("j").Unwatched
	if u == nil || !u.Limit || u.Dirs != 2 || u.Dir != filepath.Join(local, "b") || !strings.Contains(u.Fix, sysctl) || u.Every != interval {
		t.Fatalf("status Unwatched = %+v, want b and the remote folder at the limit, every %s, with the sysctl", u, interval)
	}

	// A change in b raises no event: the poll pass brings it over.
	writeFile(t, filepath.Join(local, "b", "new.txt"), "n")
	clock.AdvanceTo(first.Add(interval))
	if at := nextPass("poll pass"); !at.Equal(first.Add(interval)) {
		t.Fatalf("poll pass at %s, want %s", at, first.Add(interval))
	}
	if got, err := os.ReadFile(filepath.Join(remote, "b", "new.txt")); err != nil || string(got) != "n" {
		t.Fatalf("the change in the unwatched directory was not synced by the poll pass: %q, %v", got, err)
	}
	second := clock.Now()
	waitNextPass(h, second.Add(interval)) // still at the limit: still polled
	if n := logs.count("WARN", sysctl); n != 1 {
		t.Fatalf("%d warnings naming %s after the poll pass, want still 1", n, sysctl)
	}

	// The limit is raised: the next poll watches everything, and stops.
	lw.raise(100)
	clock.AdvanceTo(second.Add(interval))
	nextPass("poll pass after the limit was raised")
	third := clock.Now()
	waitNextPass(h, third.Add(rescan))
	if u := h.status("j").Unwatched; u != nil {
		t.Fatalf("status Unwatched = %+v once everything is watched, want nil", u)
	}
	if n := logs.count("INFO", "every directory is watched again"); n != 1 {
		t.Fatalf("%d notes that every directory is watched again, want 1", n)
	}
	// b is watched now: a change there asks for a pass after cooloff.
	writeFile(t, filepath.Join(local, "b", "later.txt"), "l")
	waitNextPass(h, third.Add(time.Second))
}

// TestWatchInstanceLimitNamesTheSysctl: a job that cannot make a watcher
// at all at the inotify instance limit (EMFILE) names the sysctl that
// raises it, and polls every interval.
func TestWatchInstanceLimitNamesTheSysctl(t *testing.T) {
	job := config.Job{Name: "j", Local: t.TempDir(), Remote: t.TempDir(), Direction: config.TwoWay, Mode: config.Continuous,
		Interval: time.Minute, Cooloff: time.Second, RescanInterval: 24 * time.Hour}
	logs := &logRecords{}
	clock := newFakeClock(mustTime(t, "2025-01-03 00:03:00"))
	a, err := New(testConfig(t, job), Options{Open: nopOpen, Clock: clock, Log: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	a.newWatcher = func() (watch.Watcher, error) {
		return nil, fmt.Errorf("unable to make a watcher: %w", syscall.EMFILE)
	}
	a.pass = func(context.Context, syncer.Options) (snapshot.PassRecord, error) {
		return snapshot.PassRecord{Start: clock.Now(), End: clock.Now()}, nil
	}
	h := &harness{t: t, a: a, clock: clock}
	h.run()
	waitFor(t, "first pass taken in", func() bool { return h.status("j").Last != nil })
	waitNextPass(h, clock.Now().Add(time.Minute))
	if n := logs.count("ERROR", "fs.inotify.max_user_instances"); n != 1 {
		t.Fatalf("%d errors naming fs.inotify.max_user_instances, want 1", n)
	}
}
