package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/internal/demokit"
	"github.com/ferry-sync/ferry/internal/foldfs"
)

// clashCase is a set of names that one filesystem takes for one file.
type clashCase struct {
	name  string
	fold  foldfs.Options
	files map[string]string // name -> content, on the sending side
}

var clashCases = []clashCase{
	{"case", foldfs.Options{FoldCase: true}, map[string]string{
		"readme.txt": "lower", "README.txt": "upper", "Readme.txt": "title"}},
	{"normalisation", foldfs.Options{Normalize: true}, map[string]string{
		"caf\u00e9.txt": "nfc", "cafe\u0301.txt": "nfd"}},
}

func (c clashCase) reason() string {
	if c.fold.FoldCase {
		return "case clash"
	}
	return "normalisation clash"
}

// first is the name the conflict is listed under (the first in byte order).
func (c clashCase) first() string {
	var names []string
	for n := range c.files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names[0]
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// checkClash syncs c's names from local onto the folding folder behind
// target (its backing directory is backing), then checks: none written,
// the user's own file there untouched, the conflict listed with every name,
// and resolve renaming them so the next pass lands them all.
func checkClash(t *testing.T, ctx context.Context, c clashCase, cfg, local, target, backing string, extra ...string) {
	t.Helper()
	for n, content := range c.files {
		write(t, filepath.Join(local, n), content)
	}
	write(t, filepath.Join(local, "plain.txt"), "plain")
	// The user's own file on the receiving side, under no clashing name.
	write(t, filepath.Join(target, "mine.txt"), "mine")

	args := append([]string{"sync", "--config", cfg}, extra...)
	code, out, stderr := runCLI(t, ctx, append(args, "j")...)
	if code != exitOK {
		t.Fatalf("sync: exit %d\n%s%s", code, out, stderr)
	}
	got := listDir(t, backing)
	sort.Strings(got)
	if strings.Join(got, " ") != "mine.txt plain.txt" {
		t.Fatalf("the folding folder holds %q, want only mine.txt and plain.txt: a clashing name was written", got)
	}
	if read(t, filepath.Join(backing, "mine.txt")) != "mine" {
		t.Fatal("the user's own file was overwritten")
	}
	code, out, _ = runCLI(t, ctx, "conflicts", "--config", cfg, "j")
	if code != exitOK || !strings.Contains(out, c.reason()) {
		t.Fatalf("conflicts: exit %d, want %q listed:\n%s", code, c.reason(), out)
	}
	for n := range c.files {
		if !strings.Contains(out, n) {
			t.Errorf("conflicts does not list %q:\n%s", n, out)
		}
	}

	args = append([]string{"resolve", "--config", cfg}, extra...)
	if code, out, stderr := runCLI(t, ctx, append(args, "j", c.first())...); code != exitOK {
		t.Fatalf("resolve: exit %d\n%s%s", code, out, stderr)
	}
	args = append([]string{"sync", "--config", cfg}, extra...)
	if code, out, stderr := runCLI(t, ctx, append(args, "j")...); code != exitOK {
		t.Fatalf("sync after resolve: exit %d\n%s%s", code, out, stderr)
	}
	if _, out, _ := runCLI(t, ctx, "conflicts", "--config", cfg, "j"); !strings.Contains(out, "no unresolved conflicts") {
		t.Fatalf("conflict still listed after resolve:\n%s", out)
	}
	// Every content arrived, each under its own name, none lost.
	have := map[string]string{}
	for _, n := range listDir(t, backing) {
		have[read(t, filepath.Join(backing, n))] = n
	}
	for n, content := range c.files {
		if _, ok := have[content]; !ok {
			t.Errorf("the content of %q never reached the folding folder; it holds %v", n, have)
		}
	}
	if have["mine"] != "mine.txt" || have["plain"] != "plain.txt" {
		t.Errorf("the folding folder lost mine.txt or plain.txt: %v", have)
	}
	if got := len(listDir(t, backing)); got != len(c.files)+2 {
		t.Errorf("the folding folder holds %d names, want %d", got, len(c.files)+2)
	}
}

// TestClashingNamesOntoFoldingFolderWriteNone: names that a case-folding
// (or normalising) folder takes for one file must not be written to it at
// all, where before one of them was written and the others overwrote it.
func TestClashingNamesOntoFoldingFolderWriteNone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, c := range clashCases {
		t.Run(c.name, func(t *testing.T) {
			m := foldfs.MountT(t, c.fold)
			dir := t.TempDir()
			local := filepath.Join(dir, "local")
			if err := os.Mkdir(local, 0o755); err != nil {
				t.Fatal(err)
			}
			cfg := filepath.Join(dir, "jobs.yaml")
			write(t, cfg, "state_dir: "+filepath.Join(dir, "state")+"\njobs:\n  - name: j\n    local: "+local+
				"\n    remote: "+m.Dir+"\n    direction: local-to-remote\n")
			checkClash(t, ctx, c, cfg, local, m.Dir, m.Backing)
		})
	}
}

// TestClashingNamesThroughServeOntoFoldingFolderWriteNone is the same
// through a real `ferry serve` whose root is on the folding mount.
func TestClashingNamesThroughServeOntoFoldingFolderWriteNone(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real ferry serve")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, c := range clashCases {
		t.Run(c.name, func(t *testing.T) {
			m := foldfs.MountT(t, c.fold)
			dir := t.TempDir()
			local := filepath.Join(dir, "local")
			if err := os.Mkdir(local, 0o755); err != nil {
				t.Fatal(err)
			}
			key, authorized := filepath.Join(dir, "id_ed25519"), filepath.Join(dir, "authorized_keys")
			if err := demokit.WriteKeys(key, authorized, "ferry demo"); err != nil {
				t.Fatal(err)
			}
			port, err := demokit.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			srv, err := startDemoServer(ctx, &env{stdout: io.Discard, stderr: io.Discard}, dir, m.Dir, authorized, port)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(srv.stop)
			cfg := filepath.Join(dir, "jobs.yaml")
			write(t, cfg, fmt.Sprintf("state_dir: %s\njobs:\n  - name: j\n    local: %s\n    remote: ferry://tester@127.0.0.1:%d/\n    identity: %s\n    direction: local-to-remote\n",
				filepath.Join(dir, "state"), local, port, key))
			checkClash(t, ctx, c, cfg, local, m.Dir, m.Backing, "--accept-new-host-key")
		})
	}
}
