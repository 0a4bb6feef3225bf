package syncer_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/syncer"
)

// batchReceiver is an endpoint that receives files in one Upload call
// (as the remote endpoint does), implemented here with CreateFile.
type batchReceiver struct {
	endpoint.Endpoint
	calls, items int
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

func TestCopiesTakeSlotsAndReportProgress(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		e.write("remote", n, strings.Repeat(n, 1000))
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
	if last.Phase != syncer.PhaseDone || last.FilesDone != 5 || last.FilesTotal != 5 || last.BytesDone != 5000 || last.BytesTotal != 5000 || delta != 5000 {
		t.Errorf("last event %+v, summed deltas %d", last, delta)
	}
	if rec.Created != 5 || rec.Bytes != 5000 {
		t.Errorf("pass: %s", summary(rec))
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
	if _, err := syncer.Pass(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "disk space low") || !strings.Contains(logs.String(), "side=local") {
		t.Errorf("no low-space warning for the local side in:\n%s", logs.String())
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
