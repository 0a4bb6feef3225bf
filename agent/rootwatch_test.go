package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/internal/watch"
)

func writeFile(t testing.TB, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A folder moved away and replaced by another (a restore from a backup)
// must be watched again: the old watches follow the moved-away directory.
func TestContinuousWatchesReplacedRoot(t *testing.T) {
	l := newLive(t, config.Job{Cooloff: 100 * time.Millisecond}, nil)
	writeFile(t, filepath.Join(l.local, "keep.txt"), "k")
	arrive(t, filepath.Join(l.remote, "keep.txt"), []byte("k"), time.Now())
	l.settle(t)

	if err := os.Rename(l.local, l.local+".old"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(l.local, "keep.txt"), "k")
	writeFile(t, filepath.Join(l.local, "restored.txt"), "r")
	start := time.Now()
	d := arrive(t, filepath.Join(l.remote, "restored.txt"), []byte("r"), start)
	t.Logf("file in the replacing folder arrived after %s", d)

	// Only a watch on the new folder can bring these: nothing else is
	// pending and the safety rescan is 10 minutes away.
	l.settle(t)
	writeFile(t, filepath.Join(l.local, "later.txt"), "l")
	arrive(t, filepath.Join(l.remote, "later.txt"), []byte("l"), time.Now())
	// Nor is a write into the moved-away folder taken for one in the job.
	writeFile(t, filepath.Join(l.local+".old", "stray.txt"), "s")

	// A directory tree made in the new folder is watched too.
	l.settle(t)
	dir := filepath.Join(l.local, "a", "b")
	writeFile(t, filepath.Join(dir, "one.txt"), "1")
	arrive(t, filepath.Join(l.remote, "a", "b", "one.txt"), []byte("1"), time.Now())
	l.settle(t)
	writeFile(t, filepath.Join(dir, "two.txt"), "2")
	arrive(t, filepath.Join(l.remote, "a", "b", "two.txt"), []byte("2"), time.Now())
	if _, err := os.Lstat(filepath.Join(l.remote, "stray.txt")); !os.IsNotExist(err) {
		t.Fatalf("a file written into the moved-away folder reached the remote (%v)", err)
	}
}

// A deleted folder halts the job (nothing is deleted on the other side),
// so does the folder re-created without its signature file, and syncing
// resumes once the folder is back with it.
func TestContinuousDeletedRootHaltsAndResumesWhenRestored(t *testing.T) {
	const sig = ".ferry-signature"
	l := newLive(t, config.Job{
		Cooloff:        100 * time.Millisecond,
		LocalSignature: sig,
		// Only the missing folder and signature may stop the deletions.
		MaxDelete: config.Limit{IsPercent: true, Percent: 100},
	}, nil)
	writeFile(t, filepath.Join(l.local, sig), "")
	writeFile(t, filepath.Join(l.local, "keep.txt"), "k")
	writeFile(t, filepath.Join(l.local, "sub", "deep.txt"), "d")
	arrive(t, filepath.Join(l.remote, "keep.txt"), []byte("k"), time.Now())
	arrive(t, filepath.Join(l.remote, "sub", "deep.txt"), []byte("d"), time.Now())
	l.settle(t)
	remoteIntact := func(when string) {
		t.Helper()
		for _, p := range []string{"keep.txt", "sub/deep.txt"} {
			if _, err := os.Lstat(filepath.Join(l.remote, p)); err != nil {
				t.Fatalf("%s: %s was deleted on the remote: %v", when, p, err)
			}
		}
	}

	if err := os.RemoveAll(l.local); err != nil {
		t.Fatal(err)
	}
	want := "the local folder " + l.local + " is missing"
	waitFor(t, "halted for the missing folder", func() bool {
		s := l.a.Jobs()[0]
		return s.State == Halted && strings.HasPrefix(s.Halted, want)
	})
	t.Logf("halted: %s", l.a.Jobs()[0].Halted)
	if err := l.a.SyncNow("live"); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("SyncNow while the folder is missing: %v, want an error saying %q", err, want)
	}
	remoteIntact("folder deleted")

	// Back, but without its signature: a pass halts and deletes nothing.
	back := time.Now()
	writeFile(t, filepath.Join(l.local, "new.txt"), "n")
	waitFor(t, "a pass halted for the missing signature", func() bool {
		s := l.a.Jobs()[0]
		return s.State == Halted && s.Last != nil && !s.Last.Start.Before(back) &&
			strings.Contains(s.Last.Halted, "signature")
	})
	remoteIntact("folder back without its signature")
	if _, err := os.Lstat(filepath.Join(l.remote, "new.txt")); !os.IsNotExist(err) {
		t.Fatalf("new.txt reached the remote while the signature was missing (%v)", err)
	}

	// Restored with its signature: syncing resumes.
	writeFile(t, filepath.Join(l.local, "keep.txt"), "k")
	writeFile(t, filepath.Join(l.local, "sub", "deep.txt"), "d")
	writeFile(t, filepath.Join(l.local, sig), "")
	arrive(t, filepath.Join(l.remote, "new.txt"), []byte("n"), time.Now())
	remoteIntact("folder restored")
	waitFor(t, "no longer halted", func() bool {
		s := l.a.Jobs()[0]
		return s.State == Idle && s.Halted == ""
	})
	l.settle(t)
	writeFile(t, filepath.Join(l.local, "sub", "after.txt"), "a")
	arrive(t, filepath.Join(l.remote, "sub", "after.txt"), []byte("a"), time.Now())
}

// While its root is missing a job starts no pass and wakes only every
// rootCheck of its clock to look for it; once the root is back, the next
// pass waits until it has been still for cooloff.
func TestContinuousMissingRootIsPolledOnTheClock(t *testing.T) {
	local := filepath.Join(t.TempDir(), "root")
	if err := os.Mkdir(local, 0o755); err != nil {
		t.Fatal(err)
	}
	job := config.Job{Name: "j", Local: local, Remote: "ferry://ann@127.0.0.1:33001/srv", Mode: config.Continuous,
		RemoteURL: &config.RemoteURL{User: "ann", Host: "127.0.0.1", Port: 33001, Path: "/srv"},
		Interval:  time.Hour, Cooloff: time.Second}
	h := newHarness(t, testConfig(t, job), takes(time.Second))
	h.nextPass()

	if err := os.Remove(local); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "halted for the missing folder", func() bool {
		s := h.a.Jobs()[0]
		return s.State == Halted && strings.HasPrefix(s.Halted, "the local folder "+local+" is missing") && s.NextPass.IsZero()
	})
	now := h.clock.Now()
	at := h.clock.waitTimer(t)
	if !at.After(now) || at.After(now.Add(rootCheck)) {
		t.Fatalf("with the folder missing the job wakes at %s, want within (%s, %s]", at, now, now.Add(rootCheck))
	}
	// A look that finds it still missing starts nothing.
	h.clock.AdvanceTo(at)
	at = h.clock.waitTimer(t)
	if want := h.clock.Now().Add(rootCheck); !at.Equal(want) {
		t.Fatalf("next look at the missing folder at %s, want %s", at, want)
	}

	if err := os.Mkdir(local, 0o755); err != nil {
		t.Fatal(err)
	}
	h.clock.AdvanceTo(at)
	due := at.Add(time.Second)
	if next := h.clock.waitTimer(t); !next.Equal(due) {
		t.Fatalf("after the folder came back the job wakes at %s, want one cooloff later (%s)", next, due)
	}
	h.clock.AdvanceTo(due)
	if c := h.nextPass(); !c.start.Equal(due) {
		t.Fatalf("pass after the folder came back started at %s, want %s", c.start, due)
	}
	h.mu.Lock()
	n := len(h.passes)
	h.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d passes, want 2: none while the folder was missing", n)
	}
}

// A mount over the root (or an unmount) raises no event at all; the
// periodic look at the root must still notice it is another directory.
func TestContinuousNoticesRootReplacedWithoutEvents(t *testing.T) {
	var lw *lossyWatcher
	l := newLive(t, config.Job{Cooloff: 100 * time.Millisecond}, func(a *Agent) {
		a.newWatcher = func() (watch.Watcher, error) {
			w, err := newLossyWatcher()
			lw = w
			return w, err
		}
	})
	l.settle(t)
	lw.drop.Store(true) // from now on no event reaches the job, as with a mount
	if err := os.Rename(l.local, l.local+".old"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(l.local, "mounted.txt"), "m")
	start := time.Now()
	d := arrive(t, filepath.Join(l.remote, "mounted.txt"), []byte("m"), start)
	t.Logf("file on the folder replaced without events arrived after %s (looks every %s)", d, rootCheck)
}
