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
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/tree"
)

// afterScan wraps an Endpoint and runs hook once its scan has finished:
// the disk changes between scan and apply.
type afterScan struct {
	endpoint.Endpoint
	hook func(entries []tree.Entry) []tree.Entry
}

func (a afterScan) Scan(ctx context.Context, opts endpoint.ScanOptions, visit func(tree.Entry) error) error {
	var all []tree.Entry
	if err := a.Endpoint.Scan(ctx, opts, func(e tree.Entry) error { all = append(all, e); return nil }); err != nil {
		return err
	}
	for _, e := range a.hook(all) {
		if err := visit(e); err != nil {
			return err
		}
	}
	return nil
}

func TestEditBetweenScanAndApplyIsKept(t *testing.T) {
	e := newEnv(t)
	e.write("local", "a.txt", "v1")
	e.write("local", "b.txt", "v1")
	e.mustPass()

	e.write("remote", "a.txt", "remote v2")
	e.write("remote", "b.txt", "remote v2")
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
		return afterScan{l, func(all []tree.Entry) []tree.Entry {
			e.write("local", "a.txt", "local edit after the scan")
			return all
		}}, r
	}
	rec := e.mustPass()
	if rec.Skipped != 1 || rec.Updated != 1 {
		t.Errorf("pass: %s; want 1 skipped (a.txt) and 1 updated (b.txt)", summary(rec))
	}
	if got, _ := e.read("local", "a.txt"); got != "local edit after the scan" {
		t.Fatalf("local a.txt = %q: the edit made after the scan was overwritten", got)
	}
	if got, _ := e.read("local", "b.txt"); got != "remote v2" {
		t.Errorf("local b.txt = %q, want the remote version", got)
	}

	// The next pass sees both edits and keeps both.
	e.wrap = nil
	e.mustPass()
	if got, _ := e.read("local", "a.conflict-mine.txt"); got != "local edit after the scan" {
		t.Errorf("conflict copy holds %q", got)
	}
	if got, _ := e.read("remote", "a.txt"); got != "remote v2" {
		t.Errorf("remote a.txt = %q", got)
	}
}

// problemScan reports the listed paths as unreadable.
func problemScan(ep endpoint.Endpoint, paths ...string) endpoint.Endpoint {
	return afterScan{ep, func(all []tree.Entry) []tree.Entry {
		for i := range all {
			for _, p := range paths {
				if all[i].Path == p {
					all[i].Problem = "permission denied"
				}
			}
		}
		return all
	}}
}

// TestUnreadableFileIsReportedNotDeleted simulates permission denied with
// an Endpoint wrapper, because root (which these tests may run as) ignores
// permission bits; TestUnreadableFileForReal covers a real chmod 000 when
// not root.
func TestUnreadableFileIsReportedNotDeleted(t *testing.T) {
	e := newEnv(t)
	e.write("local", "secret.txt", "v1")
	e.write("local", "other.txt", "v1")
	e.mustPass()
	if err := os.Remove(filepath.Join(e.remoteDir, "secret.txt")); err != nil {
		t.Fatal(err)
	}
	e.write("remote", "other.txt", "v2")
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
		return problemScan(l, "secret.txt"), r
	}
	rec := e.mustPass()
	if rec.Problems != 1 || rec.Deleted != 0 {
		t.Errorf("pass: %s; want 1 problem and nothing deleted", summary(rec))
	}
	if got, ok := e.read("local", "secret.txt"); !ok || got != "v1" {
		t.Errorf("unreadable local file was touched: %q, %v", got, ok)
	}
	if got, _ := e.read("local", "other.txt"); got != "v2" {
		t.Errorf("the rest of the pass did not happen: other.txt = %q", got)
	}
}

func TestUnreadableFileForReal(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores permission bits; TestUnreadableFileIsReportedNotDeleted covers this with a wrapper")
	}
	e := newEnv(t)
	e.write("local", "secret.txt", "v1")
	e.mustPass()
	full := filepath.Join(e.localDir, "secret.txt")
	e.write("local", "secret.txt", "v2")
	if err := os.Chmod(full, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(full, 0o644) })
	e.write("remote", "secret.txt", "remote v2")
	rec := e.mustPass()
	if rec.Problems != 1 {
		t.Errorf("pass: %s; want 1 problem", summary(rec))
	}
	os.Chmod(full, 0o644)
	if got, _ := e.read("local", "secret.txt"); got != "v2" {
		t.Errorf("unreadable file overwritten: %q", got)
	}
}

func bigContent(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

func TestCancelMidApplyThenRerun(t *testing.T) {
	e := newEnv(t)
	want := map[string][]byte{}
	for i, name := range []string{"big1.bin", "big2.bin", "big3.bin"} {
		want[name] = bigContent(6<<20+i, byte(i))
		if err := os.WriteFile(filepath.Join(e.remoteDir, name), want[name], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.write("local", "edit.txt", "local only, must survive")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := e.options()
	o.Copiers = 1
	var moved atomic.Int64
	o.Observer = func(ev syncer.Event) {
		if moved.Add(ev.Delta) > 3<<20 {
			cancel()
		}
	}
	rec, err := syncer.Pass(ctx, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("pass: err %v, want context.Canceled", err)
	}
	if !rec.Interrupted || rec.Err != "" {
		t.Errorf("the cancelled pass is recorded as interrupted %v, err %q; want interrupted and no error", rec.Interrupted, rec.Err)
	}
	// No torn file: a final name holds either nothing or the whole file.
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(e.localDir, name))
		if err == nil && !bytes.Equal(got, b) {
			t.Errorf("%s is torn after cancel (%d of %d bytes)", name, len(got), len(b))
		}
	}

	rec = e.mustPass()
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(e.localDir, name))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s not complete after rerun: %v", name, err)
		}
	}
	if got, _ := e.read("remote", "edit.txt"); got != "local only, must survive" {
		t.Errorf("local edit lost: remote has %q", got)
	}
	if rec := e.mustPass(); rec.Created+rec.Updated+rec.Deleted != 0 {
		t.Errorf("third pass not a no-op: %s", summary(rec))
	}
	partials, _ := filepath.Glob(filepath.Join(e.localDir, "*.partial*"))
	if len(partials) != 0 {
		t.Errorf("partial files left: %v", partials)
	}
}

const killEnv = "FERRY_SYNCER_KILL_CHILD"

// TestKilledPassResumes runs a pass in a child process (this test binary,
// re-executed), kills it with SIGKILL in the middle of a big transfer, and
// checks that a rerun completes with no torn file.
func TestKilledPassResumes(t *testing.T) {
	if dir := os.Getenv(killEnv); dir != "" {
		killChild(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("slow")
	}
	base := t.TempDir()
	local, remote := filepath.Join(base, "local"), filepath.Join(base, "remote")
	os.Mkdir(local, 0o755)
	os.Mkdir(remote, 0o755)
	big := bigContent(64<<20, 9)
	if err := os.WriteFile(filepath.Join(remote, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledPassResumes$", "-test.v")
	cmd.Env = append(os.Environ(), killEnv+"="+base)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The child's stdin ends when this process does: a child whose parent
	// died never waits for its kill forever.
	hold, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	// The child writes a byte to its fd 3 once its pass is held half way
	// through the file.
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
		held <- n == 1 // false: the child ended without getting there
	}()
	select {
	case ok := <-held:
		if !ok {
			cmd.Wait()
			t.Fatalf("the child ended before it was half way through the file:\n%s", out.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the child never got half way through the file:\n%s", out.String())
	}
	partial := filepath.Join(local, "big.bin.partial")
	if fi, err := os.Stat(partial); err != nil || fi.Size() <= 8<<20 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the child is half way through the file, but its partial is %v (%v)", fi, err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(local, "big.bin")); err == nil {
		t.Fatalf("the child finished a transfer its observer held half way:\n%s", out.String())
	}

	db, err := snapshot.Open(filepath.Join(base, "job.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e := &env{t: t, localDir: local, remoteDir: remote, db: db, job: killJob(base)}
	rec := e.mustPass()
	got, err := os.ReadFile(filepath.Join(local, "big.bin"))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("big.bin after rerun: %d bytes, err %v", len(got), err)
	}
	if _, err := os.Stat(partial); err == nil {
		t.Error("partial file left after the rerun")
	}
	t.Logf("rerun: %s", summary(rec))
}

func killJob(base string) config.Job {
	return config.Job{Name: "kill", Local: filepath.Join(base, "local"), Remote: filepath.Join(base, "remote"),
		Direction: config.TwoWay, MaxDelete: config.Limit{IsPercent: true, Percent: 100}}
}

// killChild is the child side of TestKilledPassResumes: a pass whose
// observer stops it half way through the file, until the parent kills it
// (or, should the parent die first, until stdin ends).
func killChild(t *testing.T, base string) {
	db, err := snapshot.Open(filepath.Join(base, "job.db"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, localDir: filepath.Join(base, "local"), remoteDir: filepath.Join(base, "remote"), db: db, job: killJob(base)}
	o := e.options()
	o.Observer = func(ev syncer.Event) {
		// Reported after the bytes are written: the partial file holds
		// more than the 8 MiB the parent waits for.
		if ev.Delta > 0 && ev.BytesDone >= 32<<20 {
			_, _ = os.NewFile(3, "held").Write([]byte{1})
			_, _ = io.Copy(io.Discard, os.Stdin)
			os.Exit(3)
		}
	}
	_, err = syncer.Pass(context.Background(), o)
	t.Logf("child pass ended (it should have been killed): %v", err)
}

// TestRandomTwoWay: random trees, random edits on both sides, then two
// passes. Invariants: the sides are equal, no edited content is lost (each
// edit's content exists on some path), and a further pass changes nothing.
// Set FERRY_SEED to replay a seed.
func TestRandomTwoWay(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FERRY_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d (FERRY_SEED=%d to replay)", seed, seed)
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	for round := range rounds {
		rng := rand.New(rand.NewPCG(seed, uint64(round)))
		e := newEnv(t)
		names := []string{"a", "b", "c", "d/e", "d/f", "d/g/h", "i/j", "k.txt", "d/g/l.txt"}
		for _, n := range names {
			if rng.IntN(3) > 0 {
				e.write("local", n, "base "+n)
			}
		}
		e.mustPass()

		type edit struct{ side, path, content string }
		var made []edit
		for _, side := range []string{"local", "remote"} {
			for _, n := range names {
				switch rng.IntN(6) {
				case 0:
					c := side + " edit " + n
					if writeIfPossible(e, side, n, c) {
						made = append(made, edit{side, n, c})
					}
				case 1:
					os.RemoveAll(filepath.Join(e.root(side), n))
				case 2:
					if d := tree.Parent(n); d != "" {
						os.RemoveAll(filepath.Join(e.root(side), d))
					}
				}
			}
		}
		// An edit a later random deletion on the same side removed was
		// never there for the sync to keep.
		var edits []string
		for _, m := range made {
			if got, _ := e.read(m.side, m.path); got == m.content {
				edits = append(edits, m.content)
			}
		}
		// The random deletions are deliberate and may empty a whole side,
		// which halts a pass unless deletions are allowed.
		for range 2 {
			if _, err := e.pass(context.Background(), true); err != nil {
				t.Fatalf("round %d: pass: %v", round, err)
			}
		}
		l, r := dump(t, e.localDir), dump(t, e.remoteDir)
		if strings.Join(l, "\n") != strings.Join(r, "\n") {
			t.Fatalf("round %d: sides differ:\nlocal  %q\nremote %q", round, l, r)
		}
		all := strings.Join(l, "\n")
		for _, c := range edits {
			if !strings.Contains(all, `"`+c+`"`) {
				t.Fatalf("round %d: edit %q lost; trees %q", round, c, l)
			}
		}
		if rec := e.mustPass(); rec.Created+rec.Updated+rec.Deleted+rec.Conflicts != 0 {
			t.Fatalf("round %d: pass after convergence did something: %s", round, summary(rec))
		}
	}
}

// writeIfPossible writes content at p unless a file stands where a
// directory on its path must be (the random edit is then dropped).
func writeIfPossible(e *env, side, p, content string) bool {
	for q := tree.Parent(p); q != ""; q = tree.Parent(q) {
		if fi, err := os.Lstat(filepath.Join(e.root(side), q)); err == nil && !fi.IsDir() {
			return false
		}
	}
	if fi, err := os.Lstat(filepath.Join(e.root(side), p)); err == nil && fi.IsDir() {
		return false
	}
	e.write(side, p, content)
	return true
}

// TestRepointedRemoteDeletesNothing: pointing a job at another remote folder
// that lacks some files must not delete them locally (the records describe
// the old folder); the pass halts until reset-sync, which then deletes
// nothing.
func TestRepointedRemoteDeletesNothing(t *testing.T) {
	e := newEnv(t)
	for i := range 10 {
		e.write("local", fmt.Sprintf("f%d", i), "x")
	}
	e.mustPass()
	other := t.TempDir()
	for i := range 6 {
		if err := os.WriteFile(filepath.Join(other, fmt.Sprintf("f%d", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.remoteDir = other
	e.job.Remote = other
	_, err := e.pass(context.Background(), false)
	if !errors.Is(err, syncer.ErrPairChanged) {
		t.Fatalf("pass over a repointed remote: %v, want ErrPairChanged", err)
	}
	for i := range 10 {
		if _, ok := e.read("local", fmt.Sprintf("f%d", i)); !ok {
			t.Fatalf("f%d was deleted locally", i)
		}
	}
	if err := e.db.Reset(); err != nil {
		t.Fatal(err)
	}
	rec := e.mustPass()
	if rec.Deleted != 0 {
		t.Fatalf("after reset-sync: %s", summary(rec))
	}
	for i := range 10 {
		if _, ok := e.read("remote", fmt.Sprintf("f%d", i)); !ok {
			t.Errorf("f%d did not reach the new remote", i)
		}
	}
	// The new pair is recorded: the next pass runs normally.
	if _, err := e.pass(context.Background(), false); err != nil {
		t.Fatalf("pass after reset: %v", err)
	}
}

// TestProblemPathsAreNamedInThePassRecord: the pass record names the first
// snapshot.MaxProblemPaths unreadable paths with their side and reason, and
// still counts all of them.
func TestProblemPathsAreNamedInThePassRecord(t *testing.T) {
	e := newEnv(t)
	n := snapshot.MaxProblemPaths + 5
	var paths []string
	for i := range n {
		p := fmt.Sprintf("d/f%02d.txt", i)
		e.write("remote", p, "x")
		paths = append(paths, p)
	}
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
		return l, problemScan(r, paths...)
	}
	rec := e.mustPass()
	if rec.Problems != n || len(rec.ProblemPaths) != snapshot.MaxProblemPaths {
		t.Fatalf("pass: %s, %d paths named; want %d problems and %d named", summary(rec), len(rec.ProblemPaths), n, snapshot.MaxProblemPaths)
	}
	for i, p := range rec.ProblemPaths {
		want := snapshot.ProblemPath{Side: "remote", Path: paths[i], Problem: "permission denied"}
		if p != want {
			t.Errorf("problem %d = %+v, want %+v", i, p, want)
		}
	}
	last, ok, err := e.db.LastPass()
	if err != nil || !ok || len(last.ProblemPaths) != snapshot.MaxProblemPaths {
		t.Errorf("stored pass names %d paths (ok %v, err %v), want %d", len(last.ProblemPaths), ok, err, snapshot.MaxProblemPaths)
	}
}
