package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
)

// TestDebouncerWithin: the debouncer names the changed paths, prefixes
// stripped, local and remote alike; a change to a root, or one it could
// not keep, means the whole tree.
func TestDebouncerWithin(t *testing.T) {
	now := time.Unix(1000, 0)
	cases := []struct {
		name string
		keys []string
		want []string
		ok   bool
	}{
		{"none", nil, nil, false},
		{"local and remote", []string{"0:a/b.txt", "r:c", "1:a/b.txt", "r:d/e"}, []string{"a/b.txt", "c", "d/e"}, true},
		{"a local root", []string{"0:a", "0:"}, nil, false},
		{"the remote's root", []string{"r:"}, nil, false},
	}
	for _, c := range cases {
		d := newDebouncer(time.Second)
		for _, k := range c.keys {
			d.touch(k, now)
		}
		got, ok := d.within()
		if ok != c.ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: within %q, %v; want %q, %v", c.name, got, ok, c.want, c.ok)
		}
	}
	d := newDebouncer(time.Second)
	for i := range maxTracked + 1 {
		d.touch("0:f"+string(rune('a'+i%26))+string(rune(i)), now)
	}
	if _, ok := d.within(); ok {
		t.Error("within names paths after some went untold")
	}
}

// scopes records the Within of each pass a live agent runs.
type scopes struct {
	mu   sync.Mutex
	seen [][]string
	recs []snapshot.PassRecord
	// fail, if set, fails the next scoped pass without running it.
	fail bool
}

func (s *scopes) pass(ctx context.Context, opts syncer.Options) (snapshot.PassRecord, error) {
	s.mu.Lock()
	s.seen = append(s.seen, opts.Within)
	fail := s.fail && opts.Within != nil
	if fail {
		s.fail = false
	}
	s.mu.Unlock()
	if fail {
		rec := snapshot.PassRecord{Err: "injected"}
		s.mu.Lock()
		s.recs = append(s.recs, rec)
		s.mu.Unlock()
		return rec, errors.New("injected failure")
	}
	rec, err := syncer.Pass(ctx, opts)
	s.mu.Lock()
	s.recs = append(s.recs, rec)
	s.mu.Unlock()
	return rec, err
}

func (s *scopes) last() ([]string, snapshot.PassRecord, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[len(s.seen)-1], s.recs[len(s.recs)-1], len(s.recs)
}

// TestContinuousPassIsScopedToTheChanges: a continuous job's first pass
// looks at everything; a pass due to changes it could name looks at
// those paths only (and says so in its record), and after a failed one
// the next pass is whole again.
func TestContinuousPassIsScopedToTheChanges(t *testing.T) {
	s := &scopes{}
	job := config.Job{Cooloff: 100 * time.Millisecond, Retry: config.Retry{Attempts: 3, Interval: time.Hour}}
	l := newLive(t, job, func(a *Agent) { a.pass = s.pass })
	waitFor(t, "the first pass", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.recs) > 0 })
	if within, _, _ := s.last(); within != nil {
		t.Fatalf("the first pass was scoped to %q", within)
	}
	settleScoped(t, l)
	// The ancestor is empty: this change's pass runs whole.
	if err := os.MkdirAll(filepath.Join(l.local, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(l.local, "dir", "base.txt"), []byte("base"), 0o644); err != nil {
		t.Fatal(err)
	}
	arrive(t, filepath.Join(l.remote, "dir", "base.txt"), []byte("base"), time.Now())
	settleScoped(t, l)

	if err := os.WriteFile(filepath.Join(l.local, "dir", "new.txt"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	arrive(t, filepath.Join(l.remote, "dir", "new.txt"), []byte("new"), time.Now())
	within, rec, _ := waitLast(t, s)
	if !reflect.DeepEqual(within, []string{"dir/new.txt"}) || rec.Scoped != 1 {
		t.Fatalf("the pass for dir/new.txt was scoped to %q (record says %d)", within, rec.Scoped)
	}
	settleScoped(t, l)

	// A failed scoped pass: its changes are no longer pending, so the
	// next pass, due to another change, looks at everything.
	s.mu.Lock()
	s.fail = true
	n := len(s.recs)
	s.mu.Unlock()
	if err := os.WriteFile(filepath.Join(l.local, "dir", "lost.txt"), []byte("lost"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failed pass", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.recs) > n })
	if err := os.WriteFile(filepath.Join(l.local, "other.txt"), []byte("other"), 0o644); err != nil {
		t.Fatal(err)
	}
	arrive(t, filepath.Join(l.remote, "dir", "lost.txt"), []byte("lost"), time.Now())
	if within, _, _ := s.last(); within != nil {
		t.Fatalf("the pass after a failed one was scoped to %q", within)
	}
}

func waitLast(t *testing.T, s *scopes) ([]string, snapshot.PassRecord, int) {
	t.Helper()
	var within []string
	var rec snapshot.PassRecord
	var n int
	waitFor(t, "a pass recorded", func() bool {
		s.mu.Lock()
		ok := len(s.recs) == len(s.seen) && len(s.recs) > 0
		s.mu.Unlock()
		if ok {
			within, rec, n = s.last()
		}
		return ok
	})
	return within, rec, n
}

// settleScoped waits until the job is idle with no change pending.
func settleScoped(t *testing.T, l *live) {
	t.Helper()
	waitFor(t, "the job idle", func() bool {
		j := l.a.Jobs()[0]
		return j.State == Idle && j.NextPass.After(time.Now().Add(time.Minute))
	})
}
