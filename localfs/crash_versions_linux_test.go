package localfs

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/versions"
)

// The kill -9 test of the version store: a child process (this test
// binary, running TestKeepCrashHelper) runs a pass that replaces and
// deletes files in dst, each first kept in dst's version store, and kills
// itself with SIGKILL at the nth step of a Keep. Whatever the step, each
// old file is then in place or in the store, and the next pass finishes.
const (
	keepCrashEnvDir = "FERRY_KEEPCRASH_DIR"
	keepCrashEnvNth = "FERRY_KEEPCRASH_NTH"
)

// keepCrashOld and keepCrashNew are dst's files before the pass and src's,
// which the pass brings to dst: two replaced, two deleted, one created.
var (
	keepCrashOld = map[string]string{"a.txt": "old a", "sub/b.txt": "old b, longer", "c.txt": "old c", "sub/d.txt": "old d"}
	keepCrashNew = map[string]string{"a.txt": "new a!", "sub/b.txt": "new b", "e.txt": "new e"}
)

// keepCrashPass runs a remote-to-local pass from base/src to base/dst,
// dst keeping versions, with failpoint on dst's Keeps.
func keepCrashPass(t *testing.T, base string, failpoint func(versions.KeepStep, string)) (snapshot.PassRecord, error) {
	t.Helper()
	db, err := snapshot.Open(filepath.Join(base, "state", "job.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := versions.Open(filepath.Join(base, "dst"), versions.Options{Failpoint: failpoint})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	dst := newFS(t, filepath.Join(base, "dst"), Options{Versions: store})
	defer dst.Close()
	src := newFS(t, filepath.Join(base, "src"), Options{})
	defer src.Close()
	job := config.Job{
		Name: "keepcrash", Local: filepath.Join(base, "dst"), Remote: filepath.Join(base, "src"),
		Direction: config.RemoteToLocal, Conflicts: config.Rename,
	}
	return syncer.Pass(context.Background(), syncer.Options{Job: job, Local: dst, Remote: src, DB: db, Copiers: 1})
}

// TestKeepCrashHelper is the child process of TestKillDuringAMoveIntoTheStore.
func TestKeepCrashHelper(t *testing.T) {
	base := os.Getenv(keepCrashEnvDir)
	if base == "" {
		t.Skip("the child process of TestKillDuringAMoveIntoTheStore")
	}
	n, err := strconv.ParseInt(os.Getenv(keepCrashEnvNth), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	var reached atomic.Int64
	_, err = keepCrashPass(t, base, func(versions.KeepStep, string) {
		if reached.Add(1) == n {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	})
	t.Fatalf("the pass ended (%v) without reaching failpoint %d (%d reached)", err, n, reached.Load())
}

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// keptContents is, per path, every content dst's store holds.
func keptContents(t *testing.T, dst string) map[string][]string {
	t.Helper()
	s, err := versions.Open(dst, versions.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	list, err := s.List("")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, v := range list {
		f, err := s.Open(v)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[v.Path] = append(out[v.Path], string(b))
	}
	return out
}

func holds(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestKillDuringAMoveIntoTheStore kills a pass (kill -9) at every step of
// every Keep it makes, one run each: the file being kept is in place or
// in the store, never lost, and the next pass brings dst in line with src
// with every old file in the store.
func TestKillDuringAMoveIntoTheStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process per failpoint")
	}
	// Four files kept, two steps each.
	steps := 2 * (len(keepCrashOld))
	for n := 1; n <= steps; n++ {
		t.Run(fmt.Sprintf("failpoint%d", n), func(t *testing.T) {
			base := t.TempDir()
			writeTree(t, filepath.Join(base, "src"), keepCrashOld)
			if err := os.Mkdir(filepath.Join(base, "dst"), 0o755); err != nil {
				t.Fatal(err)
			}
			// The first pass brings the old files to dst; nothing is kept.
			if rec, err := keepCrashPass(t, base, nil); err != nil || rec.Problems != 0 || rec.Created == 0 {
				t.Fatalf("first pass: %v, %+v", err, rec)
			}
			if err := os.RemoveAll(filepath.Join(base, "src")); err != nil {
				t.Fatal(err)
			}
			writeTree(t, filepath.Join(base, "src"), keepCrashNew)
			// Later mtimes for the new content, whatever the clock's grain.
			later := time.Now().Add(time.Hour)
			for p := range keepCrashNew {
				os.Chtimes(filepath.Join(base, "src", filepath.FromSlash(p)), later, later)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestKeepCrashHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), keepCrashEnvDir+"="+base, keepCrashEnvNth+"="+strconv.Itoa(n))
			out, err := cmd.CombinedOutput()
			ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child was not killed at failpoint %d: %v\n%s", n, err, out)
			}

			dst := filepath.Join(base, "dst")
			kept := keptContents(t, dst)
			for p, old := range keepCrashOld {
				b, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(p)))
				if (err != nil || string(b) != old) && !holds(kept[p], old) {
					t.Errorf("killed at failpoint %d: %s is lost: in place %q (%v), in the store %q", n, p, b, err, kept[p])
				}
			}

			rec, err := keepCrashPass(t, base, nil)
			if err != nil || rec.Problems != 0 || rec.Skipped != 0 {
				t.Fatalf("pass after the kill: %v, %+v", err, rec)
			}
			kept = keptContents(t, dst)
			for p, old := range keepCrashOld {
				b, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(p)))
				if want, ok := keepCrashNew[p]; ok {
					if err != nil || string(b) != want {
						t.Errorf("after the rerun dst/%s = %q, %v; want %q", p, b, err, want)
					}
				} else if err == nil {
					t.Errorf("after the rerun dst/%s is still there", p)
				}
				if !holds(kept[p], old) {
					t.Errorf("after the rerun the store holds %q for %s, not the old %q", kept[p], p, old)
				}
			}
		})
	}
}
