package syncer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
)

// firstSyncHeld runs a first sync of files small files into an empty
// folder with the given FirstSyncBatch and returns the most heap it held,
// after a GC, whenever a batch's transfers started (where a pass holds
// its plan), less the heap before the pass.
func firstSyncHeld(t *testing.T, files, batch int) int64 {
	t.Helper()
	src := smallTree(t, files)
	e := newEnv(t)
	e.localDir, e.job.Local = src, src
	e.firstBatch = batch
	o := e.options()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var top uint64
	o.Observer = func(ev syncer.Event) {
		if ev.Phase != syncer.PhaseTransferring || ev.Path != "" {
			return
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		top = max(top, ms.HeapInuse)
	}
	rec, err := syncer.Pass(context.Background(), o)
	if err != nil || rec.Created != files+files/200 {
		t.Fatalf("pass: %s, %v", summary(rec), err)
	}
	return int64(top) - int64(base)
}

// TestFirstSyncMemoryDoesNotGrowWithTheTree: issue 13 asks that memory
// grow with the work queued and the depth of the tree, not its size. A
// first sync planned its whole tree before it applied any of it: 16,000
// files held 6 MB of heap at the transfers, 4,000 files 1.4 MB, some 390
// bytes for each file more. Planned and applied in batches of 1,000
// paths, both hold one batch (1.7 and 2.5 MB here, the difference noise
// of the heap's spans). FERRY_FIRST_BATCH=-1 shows the whole plan.
func TestFirstSyncMemoryDoesNotGrowWithTheTree(t *testing.T) {
	if testing.Short() {
		t.Skip("makes 20,000 files")
	}
	batch := 1000
	if s := os.Getenv("FERRY_FIRST_BATCH"); s != "" {
		batch, _ = strconv.Atoi(s)
	}
	const few, many = 4000, 16000
	small := firstSyncHeld(t, few, batch)
	large := firstSyncHeld(t, many, batch)
	growth := (large - small) / (many - few)
	t.Logf("heap held at a batch's transfers: %d files %d KB, %d files %d KB: %d bytes for each file more", few, small/1024, many, large/1024, growth)
	const limit = 150
	if growth > limit {
		t.Errorf("a first sync held %d bytes of heap more for each file more in the tree (%d files %d KB, %d files %d KB), more than %d: it grows with the tree",
			growth, few, small/1024, many, large/1024, limit)
	}
	if large > 4<<20 {
		t.Errorf("a first sync of %d files held %d KB of heap at its transfers, more than a batch's %d KB", many, large/1024, 4<<10)
	}
}

// TestRandomFirstSyncInBatches: random trees on both sides (files, some
// with the same content on both or within a side, directories, links,
// files where the other side has a directory), a first sync planned
// whole against the same first sync in batches of 1 to 7 paths, in a
// random direction and conflict policy. Both must leave the same trees
// and the same conflicts, and so must a second pass. Set FERRY_SEED to
// replay a seed.
func TestRandomFirstSyncInBatches(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FERRY_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d (FERRY_SEED=%d to replay)", seed, seed)
	rounds := 40
	if testing.Short() {
		rounds = 8
	}
	names := []string{"a", "b.txt", "c", "c/d", "c/e.txt", "c/f", "c/f/g", "c/f/h.txt", "c/f/i/j",
		"k/l/m/n", "k/l/o", "k/p.txt", "q", "r/s"}
	directions := []config.Direction{config.TwoWay, config.LocalToRemote, config.RemoteToLocal}
	policies := []config.ConflictPolicy{config.Rename, config.Manual}
	for round := range rounds {
		rng := rand.New(rand.NewPCG(seed, uint64(round)))
		type step struct{ side, path, content string }
		var script []step
		for _, side := range []string{"local", "remote"} {
			for _, n := range names {
				var c string
				switch rng.IntN(7) {
				case 0, 1:
					continue
				case 2:
					c = "same " + n // the same on both sides when both pick it
				case 3:
					c = side + " " + n
				case 4:
					c = []string{"x", "y"}[rng.IntN(2)] + " shared content" // copies within a side
				case 5:
					c = "/" // a directory
				case 6:
					c = "->" // a link
				}
				script = append(script, step{side, n, c})
			}
		}
		direction, policy := directions[rng.IntN(3)], policies[rng.IntN(2)]
		size := 1 + rng.IntN(7)
		run := func(batch int) (out []string) {
			e := newEnv(t)
			e.firstBatch = batch
			e.job.Direction, e.job.Conflicts = direction, policy
			for _, s := range script {
				full := filepath.Join(e.root(s.side), filepath.FromSlash(s.path))
				switch s.content {
				case "/":
					if writeIfPossible(e, s.side, s.path+"/.keep", "") {
						os.Remove(full + "/.keep")
					}
				case "->":
					if writeIfPossible(e, s.side, s.path, "") {
						os.Remove(full)
						if err := os.Symlink("target of "+s.path, full); err != nil {
							t.Fatal(err)
						}
					}
				default:
					writeIfPossible(e, s.side, s.path, s.content)
				}
			}
			for pass := range 2 {
				rec, err := e.pass(context.Background(), false)
				if err != nil {
					t.Fatalf("round %d (batches of %d), pass %d: %v", round, batch, pass, err)
				}
				out = append(out, fmt.Sprintf("pass %d: conflicts=%d problems=%d", pass, rec.Conflicts, rec.Problems))
				for _, side := range []string{"local", "remote"} {
					out = append(out, side+":")
					out = append(out, dump(t, e.root(side))...)
				}
			}
			cs, err := e.db.Conflicts()
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cs {
				out = append(out, fmt.Sprintf("conflict %s: %s copy %q", c.Path, c.Reason, c.Copy))
			}
			return out
		}
		whole, batched := run(-1), run(size)
		if !slices.Equal(whole, batched) {
			t.Fatalf("round %d (%s, conflicts %s): in batches of %d:\n%s\nwhole:\n%s", round, direction, policy, size,
				strings.Join(batched, "\n"), strings.Join(whole, "\n"))
		}
	}
}

// TestInterruptedFirstSyncInBatchesResumes: a first sync stopped as its
// third batch starts has recorded the two before it; the next pass
// (which has that ancestor, so is no first sync) sends only the rest and
// the sides agree.
func TestInterruptedFirstSyncInBatchesResumes(t *testing.T) {
	e := newEnv(t)
	const dirs, perDir = 6, 10
	for d := range dirs {
		for f := range perDir {
			e.write("local", fmt.Sprintf("d%d/f%02d", d, f), fmt.Sprintf("content %d/%d", d, f))
		}
	}
	const paths = dirs + dirs*perDir
	e.firstBatch = 10
	o := e.options()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	batches := 0
	o.Observer = func(ev syncer.Event) {
		if ev.Phase == syncer.PhaseTransferring && ev.Path == "" {
			if batches++; batches == 3 {
				cancel()
			}
		}
	}
	rec, err := syncer.Pass(ctx, o)
	if !errors.Is(err, context.Canceled) || !rec.Interrupted {
		t.Fatalf("interrupted pass: %s, %v; want interrupted", summary(rec), err)
	}
	t.Logf("interrupted: %s", summary(rec))
	if rec.Created < 10 || rec.Created >= paths {
		t.Fatalf("the interrupted pass created %d paths, want at least its first two batches' and not all %d", rec.Created, paths)
	}
	last, ok, err := e.db.LastPass()
	if err != nil || !ok || !last.Interrupted || last.Created != rec.Created {
		t.Fatalf("stored pass record %+v (ok %v, err %v)", last, ok, err)
	}
	// What it recorded is settled: the next pass neither sends nor
	// records it again.
	rest := e.mustPass()
	t.Logf("rerun: %s", summary(rest))
	if rec.Created+rest.Created != paths || rest.Conflicts != 0 || rest.Skipped != 0 {
		t.Errorf("rerun: %s after %d created; want the other %d of %d paths created", summary(rest), rec.Created, paths-rec.Created, paths)
	}
	if l, r := dump(t, e.localDir), dump(t, e.remoteDir); !slices.Equal(l, r) {
		t.Fatalf("sides differ after the rerun:\nlocal  %q\nremote %q", l, r)
	}
	if again := e.mustPass(); again.Created+again.Updated+again.Deleted+again.Conflicts != 0 {
		t.Errorf("a pass after convergence did something: %s", summary(again))
	}
}

// TestFirstSyncTotalsSaySoFar: a batched first sync knows its totals only
// batch by batch; its events say so until the last batch, whose totals
// are the pass's.
func TestFirstSyncTotalsSaySoFar(t *testing.T) {
	e := newEnv(t)
	const files = 30
	for i := range files {
		e.write("local", fmt.Sprintf("f%02d", i), fmt.Sprintf("content %d", i))
	}
	e.firstBatch = 10
	o := e.options()
	var mu sync.Mutex
	var evs []syncer.Event
	o.Observer = func(ev syncer.Event) {
		mu.Lock()
		defer mu.Unlock()
		evs = append(evs, ev)
	}
	if _, err := syncer.Pass(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	var first, last *syncer.Event
	for i := range evs {
		if evs[i].FileDone {
			if first == nil {
				first = &evs[i]
			}
			last = &evs[i]
		}
	}
	if first == nil || !first.SoFar || first.FilesTotal >= files {
		t.Errorf("first file's event %+v: want totals so far, fewer than %d files", first, files)
	}
	if last == nil || last.SoFar || last.FilesTotal != files || last.FilesDone != files {
		t.Errorf("last file's event %+v: want the pass's totals, %d files, not so far", last, files)
	}
	if end := evs[len(evs)-1]; end.Phase != syncer.PhaseDone || end.SoFar || end.FilesTotal != files {
		t.Errorf("last event %+v: want done with %d files", end, files)
	}
}

const killBatchEnv = "FERRY_SYNCER_KILL_BATCH_CHILD"

// TestKilledFirstSyncInBatchesResumes runs a first sync in batches of 10
// paths in a child process (this test binary, re-executed) and kills it
// with SIGKILL in the middle of its third batch: the first two batches
// are recorded, some files of the third landed without being recorded.
// The rerun must leave both sides equal with no conflict, and a pass
// after it nothing to do.
func TestKilledFirstSyncInBatchesResumes(t *testing.T) {
	if base := os.Getenv(killBatchEnv); base != "" {
		killBatchChild(t, base)
		return
	}
	base := t.TempDir()
	e := &env{t: t, localDir: filepath.Join(base, "local"), remoteDir: filepath.Join(base, "remote"), job: killJob(base),
		clock: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, d := range []string{e.localDir, e.remoteDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const dirs, perDir = 6, 10
	for d := range dirs {
		for f := range perDir {
			e.write("local", fmt.Sprintf("d%d/f%02d", d, f), fmt.Sprintf("content %d/%d", d, f))
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledFirstSyncInBatchesResumes$", "-test.v")
	cmd.Env = append(os.Environ(), killBatchEnv+"="+base)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	hold, err := cmd.StdinPipe() // ends when this process does
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	heldR, heldW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer heldR.Close()
	cmd.ExtraFiles = []*os.File{heldW}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	heldW.Close()
	held := make(chan bool, 1)
	go func() {
		n, _ := heldR.Read(make([]byte, 1))
		held <- n == 1
	}()
	select {
	case ok := <-held:
		if !ok {
			cmd.Wait()
			t.Fatalf("the child ended before its third batch:\n%s", out.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the child never got to its third batch:\n%s", out.String())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	landed := len(dump(t, e.remoteDir))
	if landed == 0 || landed >= dirs+dirs*perDir {
		t.Fatalf("the killed child left %d paths on the remote, want some and not all:\n%s", landed, out.String())
	}

	db, err := snapshot.Open(filepath.Join(base, "job.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e.db = db
	rec := e.mustPass()
	t.Logf("%d paths had landed; rerun: %s", landed, summary(rec))
	if rec.Conflicts != 0 || rec.Skipped != 0 || rec.Created == 0 {
		t.Errorf("rerun: %s; want the rest created and no conflict", summary(rec))
	}
	// A small file's temporary copy that the kill caught half written
	// stays until a scan finds it stale; it is no file of the tree.
	synced := func(root string) []string {
		return slices.DeleteFunc(dump(t, root), func(l string) bool { return strings.Contains(l, ".ferry-tmp.") })
	}
	if l, r := synced(e.localDir), synced(e.remoteDir); !slices.Equal(l, r) {
		t.Fatalf("sides differ after the rerun:\nlocal  %q\nremote %q", l, r)
	}
	if again := e.mustPass(); again.Created+again.Updated+again.Deleted+again.Conflicts != 0 {
		t.Errorf("a pass after convergence did something: %s", summary(again))
	}
}

// killBatchChild is the child side of TestKilledFirstSyncInBatchesResumes:
// a first sync in batches of 10 whose observer stops it at the third
// file done of its third batch, until the parent kills it (or, should the
// parent die first, until stdin ends).
func killBatchChild(t *testing.T, base string) {
	db, err := snapshot.Open(filepath.Join(base, "job.db"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, localDir: filepath.Join(base, "local"), remoteDir: filepath.Join(base, "remote"), db: db, job: killJob(base), firstBatch: 10}
	o := e.options()
	var mu sync.Mutex
	batches, done := 0, 0
	o.Observer = func(ev syncer.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case ev.Phase == syncer.PhaseTransferring && ev.Path == "":
			batches++
		case ev.FileDone && batches == 3:
			if done++; done == 3 {
				_, _ = os.NewFile(3, "held").Write([]byte{1})
				_, _ = io.Copy(io.Discard, os.Stdin)
				os.Exit(3)
			}
		}
	}
	_, err = syncer.Pass(context.Background(), o)
	t.Logf("child pass ended (it should have been killed): %v", err)
}

// TestFirstSyncInBatchesHaltsBeforeAnything: a remote that holds an
// encryption header (.ferry-crypt) halts a job that does not encrypt,
// when its listing gets there. Names that sort before it (.cache/...)
// must not have been applied in batches by then.
func TestFirstSyncInBatchesHaltsBeforeAnything(t *testing.T) {
	e := newEnv(t)
	// More than a scan hands the merge at once (512).
	for i := range 1100 {
		e.write("remote", fmt.Sprintf(".cache/f%04d", i), fmt.Sprintf("cached %d", i))
	}
	e.write("remote", ".ferry-crypt", "header")
	e.firstBatch = 100
	_, err := e.pass(context.Background(), false)
	if !errors.Is(err, syncer.ErrHalted) {
		t.Fatalf("pass over an encrypted remote: %v, want a halt", err)
	}
	if got := dump(t, e.localDir); len(got) != 0 {
		t.Errorf("the halted first sync wrote locally: %q", got)
	}
}
