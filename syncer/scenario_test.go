package syncer_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/syncer"
)

var update = flag.Bool("update", false, "rewrite the scenario golden files")

// TestScenarios runs every testdata/scenarios/<case>/script.txt against two
// real folders and a real snapshot, and compares what it prints (pass
// summaries, halts, conflicts, final trees) with golden.txt beside it.
//
// Script lines (words split on blanks, "quoted" words unquoted):
//
//	job direction=two-way conflicts=rename max_delete=50% exclude=*.tmp,build/ local_signature=S remote_signature=S partial_suffix=.part
//	job local_folds=case remote_folds=case+normalisation
//	local|remote write PATH CONTENT
//	local|remote mkdir PATH | symlink PATH TARGET | rm PATH | chmod PATH 0755
//	local|remote mv FROM TO | cp FROM TO
//	pass [--allow-deletes]
//	reset
//	resolve PATH...
//	trees
//	conflicts
//
// The trees and the conflicts are printed at the end of every script.
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
			got := runScript(t, string(src))
			golden := filepath.Join(dir, "golden.txt")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
		})
	}
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

func runScript(t *testing.T, src string) string {
	e := newEnv(t)
	var out strings.Builder
	printTrees := func() {
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
					f := syncer.Folding{Case: strings.Contains(v, "case"), Normalization: strings.Contains(v, "normalisation")}
					prev := e.wrap
					local := k == "local_folds"
					e.wrap = func(l, r syncer.Endpoint) (syncer.Endpoint, syncer.Endpoint) {
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
			default:
				t.Fatalf("line %d: unknown %s command %q", n+1, side, w[1])
			}
		case "pass":
			rec, err := e.pass(context.Background(), len(w) > 1 && w[1] == "--allow-deletes")
			fmt.Fprintf(&out, "> %s\n%s\n", line, summary(rec))
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
