package syncer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/tree"
)

// batchReceiver is an endpoint that receives files in one Upload call
// (as the remote endpoint does), implemented here with CreateFile.
type batchReceiver struct {
	endpoint.Endpoint
	calls, items int
	// noHash leaves the hash of a file scanned unhashed untold.
	noHash bool
}

func (b *batchReceiver) Upload(ctx context.Context, items []endpoint.Transfer, src endpoint.Endpoint, progress endpoint.Progress) []error {
	b.calls++
	b.items += len(items)
	errs := make([]error, len(items))
	for i, it := range items {
		errs[i] = func() error {
			r, err := src.OpenFile(ctx, it.Source.Path)
			if err != nil {
				return err
			}
			defer r.Close()
			w, err := b.CreateFile(ctx, it.Source, it.Expect)
			if err != nil {
				return err
			}
			buf := make([]byte, r.Size())
			if _, err := r.ReadAt(buf, 0); err != nil && len(buf) > 0 {
				return err
			}
			if !b.noHash {
				if err := hashAsRead(r, &items[i]); err != nil {
					return err
				}
			}
			if _, err := w.WriteAt(buf, 0); err != nil {
				return err
			}
			progress(it.Source.Path, int64(len(buf)), false)
			return w.Commit()
		}()
	}
	return errs
}

// Download is never called on a receiver: the engine downloads only from a
// source that is a Batch.
func (b *batchReceiver) Download(_ context.Context, items []endpoint.Transfer, _ endpoint.Endpoint, _ endpoint.Progress) []error {
	errs := make([]error, len(items))
	for i := range errs {
		errs[i] = errors.New("batchReceiver only receives")
	}
	return errs
}

func (b *batchReceiver) Prepare(context.Context, []endpoint.Transfer, bool) func() { return func() {} }

func TestUploaderReceivesOneBatch(t *testing.T) {
	e := newEnv(t)
	e.write("local", "a.txt", "a")
	e.write("local", "d/b.txt", "bb")
	recv := &batchReceiver{}
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
		recv.Endpoint = r
		return l, recv
	}
	rec := e.mustPass()
	if recv.calls != 1 || recv.items != 2 {
		t.Errorf("Upload called %d times with %d items, want once with 2", recv.calls, recv.items)
	}
	if got, _ := e.read("remote", "d/b.txt"); got != "bb" || rec.Bytes != 3 {
		t.Errorf("remote d/b.txt = %q, bytes %d", got, rec.Bytes)
	}
	e.wrap = nil
	if rec := e.mustPass(); rec.Created+rec.Updated != 0 {
		t.Errorf("uploaded files not recorded: second pass %s", summary(rec))
	}
}

type countingSlots struct {
	mu             sync.Mutex
	held, max, got int
}

func (s *countingSlots) Acquire(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held++
	s.got++
	s.max = max(s.max, s.held)
	return nil
}

func (s *countingSlots) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held--
}

// Files too big to go with the small ones take a slot each.
func TestCopiesTakeSlotsAndReportProgress(t *testing.T) {
	const size = 100_000 // over syncer's small-file size
	e := newEnv(t)
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		e.write("remote", n, strings.Repeat(n, size))
	}
	slots := &countingSlots{}
	var mu sync.Mutex
	var last syncer.Event
	var delta int64
	o := e.options()
	o.Slots, o.Copiers = slots, 2
	o.Observer = func(ev syncer.Event) {
		mu.Lock()
		defer mu.Unlock()
		delta += ev.Delta
		last = ev
	}
	rec, err := syncer.Pass(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if slots.got != 5 || slots.held != 0 || slots.max > 2 {
		t.Errorf("slots: acquired %d (want 5), held at end %d, max at once %d (limit 2)", slots.got, slots.held, slots.max)
	}
	if last.Phase != syncer.PhaseDone || last.FilesDone != 5 || last.FilesTotal != 5 || last.BytesDone != 5*size || last.BytesTotal != 5*size || delta != 5*size {
		t.Errorf("last event %+v, summed deltas %d", last, delta)
	}
	if rec.Created != 5 || rec.Bytes != 5*size {
		t.Errorf("pass: %s", summary(rec))
	}
}

// barrierDst holds each Commit until n commits are waiting at once: a
// destination that makes many files durable with one sync (localfs's
// group commit) only gains if the applier commits many files at once.
// deadlockGuard bounds a wait that only a bug makes long.
const deadlockGuard = 20 * time.Second

type barrierDst struct {
	endpoint.Endpoint
	n int

	mu      sync.Mutex
	waiting int
	full    chan struct{} // closed once n commits waited at once
}

type barrierWriter struct {
	endpoint.FileWriter
	b *barrierDst
}

func (b *barrierDst) CreateFile(ctx context.Context, meta, expect tree.Entry) (endpoint.FileWriter, error) {
	w, err := b.Endpoint.CreateFile(ctx, meta, expect)
	if err != nil {
		return nil, err
	}
	return barrierWriter{w, b}, nil
}

func (w barrierWriter) Commit() error {
	b := w.b
	b.mu.Lock()
	b.waiting++
	if b.waiting == b.n {
		close(b.full)
	}
	b.mu.Unlock()
	select {
	case <-b.full:
	case <-time.After(deadlockGuard):
		// Never reached: fail the files rather than hang the test.
		b.mu.Lock()
		if b.waiting < b.n {
			b.waiting = b.n
			close(b.full)
		}
		b.mu.Unlock()
		return fmt.Errorf("fewer than %d commits ever waited at once", b.n)
	}
	return w.FileWriter.Commit()
}

// Small files are copied many at once under a single transfer slot, like
// a batch: with Copiers file by file they were two at a time, and each paid
// for a sync of its own.
func TestSmallFilesCopyManyAtOnceUnderOneSlot(t *testing.T) {
	const files, atOnce = 40, 32
	e := newEnv(t)
	for i := range files {
		e.write("remote", fmt.Sprintf("d/f%02d", i), strings.Repeat("x", i+1))
	}
	dst := &barrierDst{n: atOnce, full: make(chan struct{})}
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
		dst.Endpoint = l
		return dst, r
	}
	slots := &countingSlots{}
	o := e.options()
	o.Slots, o.Copiers = slots, 2
	rec, err := syncer.Pass(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Created != files+1 || rec.Skipped != 0 || rec.Problems != 0 {
		t.Errorf("pass: %s", summary(rec))
	}
	if slots.got != 1 || slots.held != 0 {
		t.Errorf("slots: acquired %d (want 1 for all the small files), held at end %d", slots.got, slots.held)
	}
	e.wrap = nil
	if rec := e.mustPass(); rec.Created+rec.Updated != 0 {
		t.Errorf("copied files not recorded: second pass %s", summary(rec))
	}
}

// A small file is copied through a buffer of its size: a 1 MiB buffer for
// each, allocated and cleared, was half the CPU of a sync of many small
// files.
func TestSmallFileCopyAllocatesLittle(t *testing.T) {
	const files = 64
	e := newEnv(t)
	for i := range files {
		e.write("remote", fmt.Sprintf("f%02d", i), "small")
	}
	o := e.options()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rec, err := syncer.Pass(context.Background(), o)
	runtime.ReadMemStats(&after)
	if err != nil || rec.Created != files {
		t.Fatalf("pass: %s, %v", summary(rec), err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > files<<19 {
		t.Errorf("a pass of %d files of 5 bytes allocated %d bytes, more than 512 KiB a file", files, got)
	}
}

// lowSpace reports a nearly full filesystem.
type lowSpace struct{ endpoint.Endpoint }

func (lowSpace) FreeSpace(context.Context) (endpoint.Space, error) {
	return endpoint.Space{Free: 1 << 20, Total: 100 << 20}, nil
}

func TestLowDiskSpaceIsLogged(t *testing.T) {
	e := newEnv(t)
	e.write("remote", "a", "a")
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) { return lowSpace{l}, r }
	var logs bytes.Buffer
	o := e.options()
	o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	rec, err := syncer.Pass(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "disk space low") || !strings.Contains(logs.String(), "side=local") {
		t.Errorf("no low-space warning for the local side in:\n%s", logs.String())
	}
	want := []snapshot.DiskSpaceLow{{Side: syncer.SideLocal, Free: 1 << 20, Needed: 1, Total: 100 << 20, Share: 0.05}}
	if !slices.Equal(rec.DiskSpaceLow, want) {
		t.Errorf("pass record's disk_space_low = %+v, want %+v", rec.DiskSpaceLow, want)
	}
}

// TestDiskSpaceWarningZeroIsOff: disk_space_warning: 0 asks for no warning;
// it used to be read as "not set" and warn at the 5% default (issue 11.15).
func TestDiskSpaceWarningZeroIsOff(t *testing.T) {
	e := newEnv(t)
	e.write("remote", "a", "a")
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) { return lowSpace{l}, r }
	e.job.DiskSpaceWarning = 0
	var logs bytes.Buffer
	o := e.options()
	o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	if _, err := syncer.Pass(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "disk space low") {
		t.Errorf("disk_space_warning: 0 still warned:\n%s", logs.String())
	}
}

// TestConflictDoesNotOverwriteEarlierConflict: a second conflict on the same
// path gets the next free copy name.
func TestConflictDoesNotOverwriteEarlierConflict(t *testing.T) {
	e := newEnv(t)
	e.write("local", "f.txt", "v1")
	e.mustPass()
	for i, want := range []string{"f.conflict-mine.txt", "f.conflict-mine-2.txt"} {
		mine := "local edit " + string(rune('1'+i))
		e.write("local", "f.txt", mine)
		e.write("remote", "f.txt", "remote edit "+string(rune('1'+i)))
		e.mustPass()
		if got, _ := e.read("local", want); got != mine {
			t.Errorf("round %d: %s holds %q, want %q", i, want, got, mine)
		}
	}
}

// TestConflictCopyNameIsFreeOnBothSides: the remote already holds a file
// named like the local conflict copy would be. A name free only locally made
// the copy and the remote's file meet at one path, and the next pass turned
// that into a copy of a copy (log.conflict-mine.conflict-mine.txt).
func TestConflictCopyNameIsFreeOnBothSides(t *testing.T) {
	e := newEnv(t)
	e.write("local", "log.txt", "v1")
	e.mustPass()
	e.write("remote", "log.conflict-mine.txt", "the remote's own file")
	e.write("local", "log.txt", "local v2")
	e.write("remote", "log.txt", "remote v2")
	e.mustPass()

	want := []string{
		`log.conflict-mine-2.txt 0644 "local v2"`,
		`log.conflict-mine.txt 0644 "the remote's own file"`,
		`log.txt 0644 "remote v2"`,
	}
	bothSidesHold(t, e, "after the conflict pass", want)
	recs, err := e.db.Conflicts()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Path != "log.txt" || recs[0].Copy != "log.conflict-mine-2.txt" {
		t.Errorf("conflict records = %+v, want one for log.txt with copy log.conflict-mine-2.txt", recs)
	}

	rec := e.mustPass()
	if s := summary(rec); s != "created=0 updated=0 deleted=0 renamed=0 copied=0 conflicts=0 problems=0 skipped=0 in_sync=0 sent=0" {
		t.Errorf("second pass was not a no-op: %s", s)
	}
	for _, side := range []string{"local", "remote"} {
		for _, line := range dump(t, e.root(side)) {
			if strings.Contains(line, ".conflict-mine.conflict-mine") {
				t.Errorf("%s holds a copy of a conflict copy: %s", side, line)
			}
		}
	}
}

// TestResolveCopyNameIsFreeOnBothSides: `ferry resolve` names its copy the
// same way a pass does, so a name the remote already uses is passed over.
func TestResolveCopyNameIsFreeOnBothSides(t *testing.T) {
	e := newEnv(t)
	e.job.Conflicts = config.Manual
	e.write("local", "log.txt", "v1")
	e.mustPass()
	e.write("local", "log.txt", "local v2")
	e.write("remote", "log.txt", "remote v2")
	e.mustPass()
	e.write("remote", "log.conflict-mine.txt", "the remote's own file")
	if err := syncer.Resolve(context.Background(), e.options(), []string{"log.txt"}); err != nil {
		t.Fatal(err)
	}
	e.mustPass()

	want := []string{
		`log.conflict-mine-2.txt 0644 "local v2"`,
		`log.conflict-mine.txt 0644 "the remote's own file"`,
		`log.txt 0644 "remote v2"`,
	}
	bothSidesHold(t, e, "after resolve and a pass", want)
	recs, err := e.db.Conflicts()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 {
		t.Errorf("conflicts left after resolve and a pass: %+v", recs)
	}
}

// bothSidesHold checks that each side's folder lists exactly want (as dump
// prints it).
func bothSidesHold(t *testing.T, e *env, when string, want []string) {
	t.Helper()
	for _, side := range []string{"local", "remote"} {
		got := dump(t, e.root(side))
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s %s:\n  %s\nwant:\n  %s", side, when, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
}
