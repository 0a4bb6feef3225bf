package syncer_test

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/syncer"
)

var update = flag.Bool("update", false, "rewrite the scenario golden files")

// remoteKinds are the remotes every scenario runs against: a local folder
// (a NAS mount), and a folder behind an in-process ferry serve on loopback
// reached as a ferry:// remote, its data over UDP and over the SSH stream.
var remoteKinds = []string{"local", "ferry-udp", "ferry-tcp"}

// TestScenarios runs every testdata/scenarios/<case>/script.txt against two
// real folders and a real snapshot, once per remote kind (remoteKinds), and
// compares what each run prints (pass summaries, halts, conflicts, final
// trees) with the one golden.txt beside it: the output never depends on
// the kind of remote.
//
// Script lines (words split on blanks, "quoted" words unquoted):
//
//	remotes KIND...        run only against these remote kinds
//	skip KIND "reason"     skip the run against KIND (a known bug: say which)
//	job direction=two-way conflicts=rename max_delete=50% exclude=*.tmp,build/ local_signature=S remote_signature=S partial_suffix=.part
//	job local_folds=case remote_folds=case+normalisation
//	local|remote write PATH CONTENT
//	local|remote mkdir PATH | symlink PATH TARGET | rm PATH | chmod PATH 0755
//	local|remote mv FROM TO | cp FROM TO
//	local|remote big PATH SIZE SEED              SIZE random bytes, the same for a SEED
//	local|remote append PATH TEXT
//	local|remote insert PATH OFFSET TEXT
//	local|remote overwrite PATH OFFSET LEN SEED  LEN random bytes in place
//	local|remote truncate PATH SIZE
//	pass [--allow-deletes]
//	reset
//	resolve PATH...
//	trees
//	conflicts
//
// Sizes and offsets are bytes, or a number with a KiB or MiB suffix.
// A pass prints its counts, the bytes it brought in sync, and the share of
// them it sent (sentShare). Trees print files over 40 bytes by size and
// xxhash. The trees and the conflicts are printed at the end of every
// script.
func TestScenarios(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "testdata", "scenarios", "*", "script.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no scenarios found")
	}
	for _, script := range dirs {
		dir := filepath.Dir(script)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			src, err := os.ReadFile(script)
			if err != nil {
				t.Fatal(err)
			}
			only, skip := scenarioRemotes(t, string(src))
			golden := filepath.Join(dir, "golden.txt")
			want, err := os.ReadFile(golden)
			if err != nil && !*update {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			written := false
			for _, kind := range remoteKinds {
				t.Run(kind, func(t *testing.T) {
					if only != nil && !only[kind] {
						t.Skipf("the script runs only against the remotes it names")
					}
					if why, ok := skip[kind]; ok {
						t.Skipf("skipped by the script: %s", why)
					}
					got := runScript(t, kind, string(src))
					if *update && !written {
						// The first kind to run writes the golden; the
						// others must agree with it.
						if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
							t.Fatal(err)
						}
						want, written = []byte(got), true
						return
					}
					if got != string(want) {
						t.Errorf("output against a %s remote differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", kind, golden, got, want)
					}
				})
			}
		})
	}
}

// scenarioRemotes reads a script's remotes and skip lines: the kinds it
// runs against (nil: all) and those it skips, with why.
func scenarioRemotes(t *testing.T, src string) (only map[string]bool, skip map[string]string) {
	t.Helper()
	skip = map[string]string{}
	for n, line := range strings.Split(src, "\n") {
		w, err := words(line)
		if err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		if len(w) == 0 || (w[0] != "remotes" && w[0] != "skip") {
			continue
		}
		kinds := w[1:]
		if w[0] == "skip" {
			if len(w) != 3 {
				t.Fatalf("line %d: want skip KIND \"reason\"", n+1)
			}
			kinds = w[1:2]
			skip[w[1]] = w[2]
		} else {
			only = map[string]bool{}
		}
		for _, k := range kinds {
			if !slices.Contains(remoteKinds, k) {
				t.Fatalf("line %d: unknown remote kind %q (known: %s)", n+1, k, strings.Join(remoteKinds, ", "))
			}
			if only != nil && w[0] == "remotes" {
				only[k] = true
			}
		}
	}
	return only, skip
}

// size reads a byte count: 123, 64KiB, 4MiB.
func size(s string) (int64, error) {
	mult := int64(1)
	if n, ok := strings.CutSuffix(s, "KiB"); ok {
		s, mult = n, 1<<10
	} else if n, ok := strings.CutSuffix(s, "MiB"); ok {
		s, mult = n, 1<<20
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad size %q: want bytes, or a number with KiB or MiB", s)
	}
	return v * mult, nil
}

// random returns n bytes that depend only on seed.
func random(n int64, seed string) ([]byte, error) {
	v, err := strconv.ParseUint(seed, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("bad seed %q: %w", seed, err)
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], v)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b, nil
}

func words(line string) ([]string, error) {
	var out []string
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimSpace(line) {
		if line[0] == '"' {
			q, err := strconv.QuotedPrefix(line)
			if err != nil {
				return nil, err
			}
			w, _ := strconv.Unquote(q)
			out = append(out, w)
			line = line[len(q):]
			continue
		}
		i := strings.IndexAny(line, " \t")
		if i < 0 {
			i = len(line)
		}
		out = append(out, line[:i])
		line = line[i:]
	}
	return out, nil
}

func runScript(t *testing.T, kind, src string) string {
	return runScriptBatched(t, kind, src, 0)
}

// runScriptBatched is runScript whose passes plan and apply a first sync
// firstBatch paths at a time (0: the default).
func runScriptBatched(t *testing.T, kind, src string, firstBatch int) string {
	e := newEnv(t)
	e.firstBatch = firstBatch
	switch kind {
	case "ferry-udp":
		e.served = serve(t, e.remoteDir, config.UDP)
	case "ferry-tcp":
		e.served = serve(t, e.remoteDir, config.TCP)
	}
	var out strings.Builder
	printTrees := func() {
		if e.served != nil {
			// Nothing of an earlier pass may still run on the server.
			e.served.quiesce()
		}
		for _, side := range []string{"local", "remote"} {
			fmt.Fprintf(&out, "%s:\n", side)
			for _, l := range dump(t, e.root(side)) {
				fmt.Fprintf(&out, "  %s\n", l)
			}
		}
	}
	printConflicts := func() {
		cs, err := e.db.Conflicts()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "conflicts: %d\n", len(cs))
		for _, c := range cs {
			fmt.Fprintf(&out, "  %s: %s (local %s, remote %s)", c.Path, c.Reason, c.Local.Kind, c.Remote.Kind)
			if c.Copy != "" {
				fmt.Fprintf(&out, " copy %s", c.Copy)
			}
			if len(c.Clash) > 0 {
				fmt.Fprintf(&out, " names %s", strings.Join(c.Names(), ", "))
			}
			out.WriteString("\n")
		}
	}
	for n, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") || strings.TrimSpace(line) == "" {
			continue
		}
		w, err := words(line)
		if err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		fail := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("line %d %q: %v", n+1, line, err)
			}
		}
		switch w[0] {
		case "remotes", "skip":
			// read before the run (scenarioRemotes)
		case "job":
			for _, kv := range w[1:] {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "direction":
					e.job.Direction = config.Direction(v)
				case "conflicts":
					e.job.Conflicts = config.ConflictPolicy(v)
				case "max_delete":
					if p, ok := strings.CutSuffix(v, "%"); ok {
						f, err := strconv.ParseFloat(p, 64)
						fail(err)
						e.job.MaxDelete = config.Limit{IsPercent: true, Percent: f}
					} else {
						c, err := strconv.Atoi(v)
						fail(err)
						e.job.MaxDelete = config.Limit{Count: c}
					}
				case "exclude":
					e.job.Exclude = strings.Split(v, ",")
				case "local_signature":
					e.job.LocalSignature = v
				case "remote_signature":
					e.job.RemoteSignature = v
				case "partial_suffix":
					e.job.PartialSuffix = v
				case "local_folds", "remote_folds":
					// The side reports this folding whatever its disk
					// does: case, normalisation or case+normalisation.
					f := endpoint.Folding{Case: strings.Contains(v, "case"), Normalization: strings.Contains(v, "normalisation")}
					prev := e.wrap
					local := k == "local_folds"
					e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
						if prev != nil {
							l, r = prev(l, r)
						}
						if local {
							return folding{Endpoint: l, f: f}, r
						}
						return l, folding{Endpoint: r, f: f}
					}
				default:
					t.Fatalf("line %d: unknown job key %q", n+1, k)
				}
			}
		case "local", "remote":
			side, root := w[0], e.root(w[0])
			full := filepath.Join(root, filepath.FromSlash(w[2]))
			switch w[1] {
			case "write":
				e.write(side, w[2], w[3])
			case "mkdir":
				fail(os.MkdirAll(full, 0o755))
			case "symlink":
				fail(os.MkdirAll(filepath.Dir(full), 0o755))
				fail(os.Symlink(w[3], full))
			case "rm":
				fail(os.RemoveAll(full))
			case "mv":
				to := filepath.Join(root, filepath.FromSlash(w[3]))
				fail(os.MkdirAll(filepath.Dir(to), 0o755))
				fail(os.Rename(full, to))
			case "cp":
				b, err := os.ReadFile(full)
				fail(err)
				to := filepath.Join(root, filepath.FromSlash(w[3]))
				fail(os.MkdirAll(filepath.Dir(to), 0o755))
				fail(os.WriteFile(to, b, 0o644))
			case "chmod":
				m, err := strconv.ParseUint(w[3], 8, 32)
				fail(err)
				fail(os.Chmod(full, os.FileMode(m)))
			case "big":
				n, err := size(w[3])
				fail(err)
				b, err := random(n, w[4])
				fail(err)
				fail(os.MkdirAll(filepath.Dir(full), 0o755))
				fail(os.WriteFile(full, b, 0o644))
				e.touch(full)
			case "append":
				f, err := os.OpenFile(full, os.O_WRONLY|os.O_APPEND, 0)
				fail(err)
				_, err = f.WriteString(w[3])
				fail(errors.Join(err, f.Close()))
				e.touch(full)
			case "insert":
				off, err := size(w[3])
				fail(err)
				b, err := os.ReadFile(full)
				fail(err)
				if off > int64(len(b)) {
					fail(fmt.Errorf("offset %d is past the end (%d bytes)", off, len(b)))
				}
				fail(os.WriteFile(full, slices.Concat(b[:off], []byte(w[4]), b[off:]), 0))
				e.touch(full)
			case "overwrite":
				off, err := size(w[3])
				fail(err)
				n, err := size(w[4])
				fail(err)
				b, err := random(n, w[5])
				fail(err)
				f, err := os.OpenFile(full, os.O_WRONLY, 0)
				fail(err)
				_, err = f.WriteAt(b, off)
				fail(errors.Join(err, f.Close()))
				e.touch(full)
			case "truncate":
				n, err := size(w[3])
				fail(err)
				fail(os.Truncate(full, n))
				e.touch(full)
			default:
				t.Fatalf("line %d: unknown %s command %q", n+1, side, w[1])
			}
		case "pass":
			rec, err := e.pass(context.Background(), len(w) > 1 && w[1] == "--allow-deletes")
			fmt.Fprintf(&out, "> %s\n%s\n", line, summary(rec))
			t.Logf("line %d %s: %d bytes sent of %d in sync", n+1, line, rec.Bytes, rec.InSync)
			switch {
			case errors.Is(err, syncer.ErrHalted):
				fmt.Fprintf(&out, "error is ErrHalted\n")
			case err != nil:
				fmt.Fprintf(&out, "error: %v\n", err)
			}
		case "reset":
			fail(e.db.Reset())
			fmt.Fprintf(&out, "> reset\n")
		case "resolve":
			err := syncer.Resolve(context.Background(), e.options(), w[1:])
			fmt.Fprintf(&out, "> %s\n", line)
			if err != nil {
				fmt.Fprintf(&out, "error: %v\n", err)
			}
		case "trees":
			printTrees()
		case "conflicts":
			printConflicts()
		default:
			t.Fatalf("line %d: unknown command %q", n+1, w[0])
		}
	}
	out.WriteString("--- end\n")
	printTrees()
	printConflicts()
	s := strings.ReplaceAll(out.String(), e.localDir, "LOCAL")
	return strings.ReplaceAll(s, e.remoteDir, "REMOTE")
}

// TestScenariosInBatches runs every scenario with first syncs planned and
// applied a few paths at a time (Options.FirstSyncBatch), so that batch
// boundaries fall everywhere: between a directory and what lies below
// it, inside a conflict's subtree, between a file and its local copy's
// source. Each must print its golden output, as the whole plan does,
// except that a local copy finds its source only within its own batch:
// no scenario's first sync copies locally. Against a local folder and the
// TCP remote.
func TestScenariosInBatches(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "testdata", "scenarios", "*", "script.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, script := range dirs {
		dir := filepath.Dir(script)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			src, err := os.ReadFile(script)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(dir, "golden.txt"))
			if err != nil {
				t.Fatal(err)
			}
			only, skip := scenarioRemotes(t, string(src))
			// Every size against a local folder, one against the remote.
			for _, run := range []struct {
				kind  string
				sizes []int
			}{{"local", []int{1, 2, 7}}, {"ferry-tcp", []int{3}}} {
				kind := run.kind
				if only != nil && !only[kind] {
					continue
				}
				if _, ok := skip[kind]; ok {
					continue
				}
				for _, size := range run.sizes {
					t.Run(fmt.Sprintf("%s/%d", kind, size), func(t *testing.T) {
						if got := runScriptBatched(t, kind, string(src), size); got != string(want) {
							t.Errorf("output in first-sync batches of %d differs from the golden:\n--- got\n%s\n--- want\n%s", size, got, want)
						}
					})
				}
			}
		})
	}
}
