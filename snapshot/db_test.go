package snapshot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/conflict"
	"github.com/ferry-sync/ferry/tree"
	bolt "go.etcd.io/bbolt"
)

// fakeClock is moved by hand so Writer's time-based flush is tested without
// sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func openTest(t *testing.T, path string, clock *fakeClock) *DB {
	t.Helper()
	o := options{timeout: 50 * time.Millisecond}
	if clock != nil {
		o.now = clock.Now
	}
	db, err := open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func file(path string, size int64, hash uint64) tree.Entry {
	return tree.Entry{Path: path, Kind: tree.File, Size: size, Mtime: 1000 + size, Mode: 0o644, Hash: hash}
}

func dir(path string) tree.Entry {
	return tree.Entry{Path: path, Kind: tree.Dir, Mode: 0o755, Mtime: 7}
}

func record(t *testing.T, db *DB, entries ...tree.Entry) {
	t.Helper()
	w := db.Writer()
	for _, e := range entries {
		if err := w.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

func paths(t *testing.T, db *DB) []string {
	t.Helper()
	entries, err := db.Ancestor()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Path)
	}
	return out
}

func TestAncestorRoundTripAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs", "docs.db")
	db := openTest(t, path, nil)
	if db.Recovered() != "" {
		t.Errorf("fresh DB reports recovery: %s", db.Recovered())
	}
	in := []tree.Entry{
		dir("d"),
		file("d/f", 10, 0xabc),
		{Path: "link", Kind: tree.Symlink, Mtime: 3, Mode: 0o777, Target: "d/f"},
	}
	withIno := in[1]
	withIno.Ino = 99 // side-local: must not be stored
	record(t, db, in[0], withIno, in[2])
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openTest(t, path, nil)
	got, err := db.Ancestor()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("after reopen got %+v\nwant %+v", got, in)
	}
}

func TestAncestorSortedByCompare(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "x.db"), nil)
	names := []string{"a-", "a b", "a.txt", "a/b", "a", "a/b/c", "a/b.c", "a0", "b", "a/a"}
	var entries []tree.Entry
	for _, n := range names {
		entries = append(entries, file(n, 1, 1))
	}
	record(t, db, entries...)
	got := paths(t, db)
	want := slices.Clone(names)
	slices.SortFunc(want, tree.Compare)
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	// The trap: byte order would put "a.txt" and "a-" before "a/b".
	if i, j := slices.Index(got, "a/b"), slices.Index(got, "a.txt"); i > j {
		t.Errorf("a/b (at %d) should precede a.txt (at %d)", i, j)
	}
}

func TestForgetRemovesSubtreeOnly(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "x.db"), nil)
	record(t, db, dir("a"), file("a/1", 1, 1), dir("a/b"), file("a/b/2", 2, 2), file("a.txt", 3, 3), file("a b", 4, 4), file("ab", 5, 5), file("z", 6, 6))
	w := db.Writer()
	if err := w.Forget("a"); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := paths(t, db), []string{"a b", "a.txt", "ab", "z"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestWriterAppliesOpsInOrder(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "x.db"), nil)
	w := db.Writer()
	for _, step := range []func() error{
		func() error { return w.Record(file("d/f", 1, 1)) },
		func() error { return w.Forget("d") },
		func() error { return w.Record(file("d/g", 2, 2)) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := paths(t, db); !slices.Equal(got, []string{"d/g"}) {
		t.Errorf("got %q, want [d/g]", got)
	}
}

func TestWriterRefusesBadEntries(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "x.db"), nil)
	w := db.Writer()
	bad := map[string]tree.Entry{
		"invalid path": file("../x", 1, 1),
		"absent":       {Path: "x"},
		"problem":      {Path: "x", Kind: tree.File, Problem: "permission denied"},
	}
	for name, e := range bad {
		if err := w.Record(e); err == nil {
			t.Errorf("%s: Record accepted %+v", name, e)
		}
	}
	if err := w.Forget("/abs"); err == nil {
		t.Error("Forget accepted an absolute path")
	}
	if w.Pending() != 0 {
		t.Errorf("%d refused ops were buffered", w.Pending())
	}
}

func TestWriterAutoFlushByCount(t *testing.T) {
	clock := newClock()
	db := openTest(t, filepath.Join(t.TempDir(), "x.db"), clock)
	w := db.Writer()
	for i := 0; i < FlushOps-1; i++ {
		if err := w.Record(file(fmt.Sprintf("f%04d", i), 1, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(paths(t, db)); n != 0 {
		t.Fatalf("%d entries visible before the batch filled", n)
	}
	if err := w.Record(file("last", 1, 1)); err != nil {
		t.Fatal(err)
	}
	if n := len(paths(t, db)); n != FlushOps {
		t.Errorf("after %d ops, %d entries visible, want all", FlushOps, n)
	}
	if w.Pending() != 0 {
		t.Errorf("%d ops still pending", w.Pending())
	}
}

func TestWriterAutoFlushByTime(t *testing.T) {
	clock := newClock()
	db := openTest(t, filepath.Join(t.TempDir(), "x.db"), clock)
	w := db.Writer()
	if err := w.Record(file("a", 1, 1)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(FlushDelay - time.Millisecond)
	if err := w.Record(file("b", 1, 1)); err != nil {
		t.Fatal(err)
	}
	if n := len(paths(t, db)); n != 0 {
		t.Fatalf("flushed early: %d entries visible", n)
	}
	clock.Advance(time.Millisecond)
	if err := w.Record(file("c", 1, 1)); err != nil {
		t.Fatal(err)
	}
	if got := paths(t, db); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("got %q after %v", got, FlushDelay)
	}
}

func TestCorruptFileIsMovedAside(t *testing.T) {
	for name, damage := range map[string]func(t *testing.T, path string){
		"garbage": func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat("not a bbolt file ", 1000)), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"truncated": func(t *testing.T, path string) {
			db := openTest(t, path, nil)
			var many []tree.Entry
			for i := 0; i < 5000; i++ {
				many = append(many, file(fmt.Sprintf("dir%02d/file%05d", i%50, i), int64(i), uint64(i)))
			}
			record(t, db, many...)
			db.Close()
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, st.Size()/3); err != nil {
				t.Fatal(err)
			}
		},
		"bad ancestor value": func(t *testing.T, path string) {
			db := openTest(t, path, nil)
			err := db.bolt.Update(func(tx *bolt.Tx) error {
				return tx.Bucket(bucketAncestor).Put([]byte("x"), []byte{0xff})
			})
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "job.db")
			damage(t, path)
			clock := newClock()
			db := openTest(t, path, clock)
			aside := fmt.Sprintf("%s.corrupt-%d", path, clock.Now().Unix())
			if _, err := os.Stat(aside); err != nil {
				t.Fatalf("damaged file not moved aside: %v", err)
			}
			msg := db.Recovered()
			t.Log(msg)
			if !strings.Contains(msg, path) || !strings.Contains(msg, aside) {
				t.Errorf("Recovered() = %q, want it to name %s and %s", msg, path, aside)
			}
			if got := paths(t, db); len(got) != 0 {
				t.Errorf("fresh DB has ancestor %q", got)
			}
			record(t, db, file("works", 1, 1))
			if got := paths(t, db); !slices.Equal(got, []string{"works"}) {
				t.Errorf("fresh DB does not work: %q", got)
			}
		})
	}
}

func TestSchemaMismatchIsMovedAside(t *testing.T) {
	for name, meta := range map[string]func(tx *bolt.Tx) error{
		"newer version": func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			return b.Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion+1))
		},
		"foreign bbolt file": func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket([]byte("someone else's"))
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "job.db")
			b, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Update(meta); err != nil {
				t.Fatal(err)
			}
			b.Close()
			clock := newClock()
			db := openTest(t, path, clock)
			aside := fmt.Sprintf("%s.corrupt-%d", path, clock.Now().Unix())
			if !strings.Contains(db.Recovered(), aside) {
				t.Errorf("Recovered() = %q, want it to name %s", db.Recovered(), aside)
			}
			if _, err := os.Stat(aside); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSecondOpenSaysInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.db")
	openTest(t, path, nil)
	_, err := open(path, options{timeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("err = %v, want ErrInUse", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "in use by another ferry process") {
		t.Errorf("message %q should name %s and say it is in use", err, path)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the locked file must stay where it is: %v", err)
	}
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	base := t.TempDir()
	path := filepath.Join(base, "state", "jobs", "docs.db")
	openTest(t, path, nil)
	for p, want := range map[string]os.FileMode{filepath.Dir(path): 0o700, path: 0o600} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", p, st.Mode().Perm(), want)
		}
	}
}

func TestCache(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.db")
	db := openTest(t, path, nil)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Lookup("a"); ok {
		t.Fatal("empty cache has an entry")
	}
	a := file("a", 1, 11)
	a.Ino = 5
	c.Store(a)
	c.Store(file("gone", 2, 22))
	c.Store(tree.Entry{Path: "bad", Kind: tree.File, Problem: "EIO"})
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	// A later scan sees "a" again but not "gone": gone must be dropped.
	c2, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := c2.Lookup("a"); !ok || got != a {
		t.Errorf("Lookup(a) = %+v, %v; want %+v", got, ok, a)
	}
	if _, ok := c2.Lookup("bad"); ok {
		t.Error("an entry with a problem was cached")
	}
	c2.Store(a)
	if err := c2.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, ok := c2.Lookup("gone"); ok {
		t.Error("Lookup still finds an entry not stored in the last scan")
	}
	db.Close()
	db = openTest(t, path, nil)
	c3, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c3.Lookup("gone"); ok {
		t.Error("entry not stored during the last scan survived Commit")
	}
	if got, _ := c3.Lookup("a"); got != a {
		t.Errorf("after reopen Lookup(a) = %+v", got)
	}
	other, err := db.Cache("remote")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := other.Lookup("a"); ok {
		t.Error("sides share a cache")
	}
}

func TestCacheConcurrentUse(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				p := fmt.Sprintf("w%d/f%d", w, i)
				c.Store(file(p, int64(i), uint64(w)+1)) // a hash of 0 is "not hashed": never kept
				if _, ok := c.Lookup(p); !ok {
					t.Errorf("lost %s", p)
				}
			}
		}()
	}
	wg.Wait()
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	c2, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	for w := 0; w < workers; w++ {
		for i := 0; i < each; i++ {
			if e, ok := c2.Lookup(fmt.Sprintf("w%d/f%d", w, i)); !ok || e.Hash != uint64(w)+1 {
				t.Fatalf("w%d/f%d: %+v, %v", w, i, e, ok)
			}
		}
	}
}

func TestConflictsAndPasses(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	if _, ok, err := db.LastPass(); ok || err != nil {
		t.Fatalf("fresh DB: LastPass ok=%v err=%v", ok, err)
	}
	when := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, p := range []string{"b.txt", "a/x", "a"} {
		r := conflict.Record{Path: p, Reason: conflict.BothModified, Time: when, Local: conflict.Side{Kind: "file", Size: 1}}
		if err := db.PutConflict(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutConflict(conflict.Record{Path: "/abs"}); err == nil {
		t.Error("PutConflict accepted an absolute path")
	}
	if err := db.ClearConflict("a/x"); err != nil {
		t.Fatal(err)
	}
	got, err := db.Conflicts()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Path != "a" || got[1].Path != "b.txt" || !got[1].Time.Equal(when) || got[0].Local.Size != 1 {
		t.Errorf("Conflicts() = %+v", got)
	}
	pass := PassRecord{Start: when, End: when.Add(time.Second), Created: 3, Bytes: 99, Halted: "root emptied"}
	if err := db.PutPass(pass); err != nil {
		t.Fatal(err)
	}
	p, ok, err := db.LastPass()
	if err != nil || !ok || !p.Start.Equal(pass.Start) || p.Created != 3 || p.Bytes != 99 || p.Halted != pass.Halted {
		t.Errorf("LastPass() = %+v, %v, %v", p, ok, err)
	}
}

func TestReset(t *testing.T) {
	db := openTest(t, filepath.Join(t.TempDir(), "job.db"), nil)
	record(t, db, file("a", 1, 1))
	for _, side := range []string{"local", "remote"} {
		c, err := db.Cache(side)
		if err != nil {
			t.Fatal(err)
		}
		c.Store(file("a", 1, 1))
		if err := c.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutConflict(conflict.Record{Path: "a", Reason: conflict.BothModified}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutPass(PassRecord{Created: 7}); err != nil {
		t.Fatal(err)
	}
	if err := db.Reset(); err != nil {
		t.Fatal(err)
	}
	if got := paths(t, db); len(got) != 0 {
		t.Errorf("ancestor survived Reset: %q", got)
	}
	for _, side := range []string{"local", "remote"} {
		c, err := db.Cache(side)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.Lookup("a"); ok {
			t.Errorf("%s cache survived Reset", side)
		}
	}
	if cs, err := db.Conflicts(); err != nil || len(cs) != 0 {
		t.Errorf("conflicts after Reset: %+v, %v", cs, err)
	}
	if p, ok, err := db.LastPass(); err != nil || !ok || p.Created != 7 {
		t.Errorf("Reset lost the pass record: %+v, %v, %v", p, ok, err)
	}
	record(t, db, file("b", 1, 1))
	if got := paths(t, db); !slices.Equal(got, []string{"b"}) {
		t.Errorf("after Reset, recording gives %q", got)
	}
}

// TestCacheCommitWritesOnlyChanges: a rescan that found nothing new must not
// rewrite the cache (it cost 0.4 s a pass at 100k files), and a changed or
// vanished entry must still reach the database.
func TestCacheCommitWritesOnlyChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "job.db")
	db := openTest(t, path, nil)
	c, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	a, b := file("a", 1, 11), file("b", 2, 22)
	c.Store(a)
	c.Store(b)
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	writes := func() int64 { st := db.bolt.Stats(); return st.TxStats.GetWrite() }
	before := writes()
	c.Store(a)
	c.Store(b)
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	if w := writes(); w != before {
		t.Fatalf("a no-change commit wrote %d pages", w-before)
	}
	a2 := file("a", 3, 33)
	c.Store(a2) // b vanished, a changed
	if err := c.Commit(); err != nil {
		t.Fatal(err)
	}
	if writes() == before {
		t.Fatal("a commit with changes wrote nothing")
	}
	db.Close()
	db = openTest(t, path, nil)
	c2, err := db.Cache("local")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := c2.Lookup("a"); !ok || got != a2 {
		t.Errorf("Lookup(a) = %+v, %v; want %+v", got, ok, a2)
	}
	if _, ok := c2.Lookup("b"); ok {
		t.Error("the vanished entry survived")
	}
}
