package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/internal/procio"
	"github.com/ferry-sync/ferry/snapshot"
)

// learnFiles is how many files the tests below sync: a pass that hashed
// them would make at least that many read calls more than one that did
// not.
const learnFiles = 300

// writeLearnTree writes learnFiles small files below root.
func writeLearnTree(t *testing.T, root string) {
	t.Helper()
	for i := range learnFiles {
		write(t, filepath.Join(root, fmt.Sprintf("d%d/f%03d.txt", i%7, i)), strings.Repeat(fmt.Sprint(i, " "), 1+i%40))
	}
}

// syncReads runs `ferry sync` of job j and returns how many read system
// calls this process (the CLI, and a `ferry serve` started in it) made
// meanwhile; with nothing, it fails unless the pass moved nothing.
func syncReads(t *testing.T, ctx context.Context, cfgPath string, nothing bool) int64 {
	t.Helper()
	before, err := procio.ReadCalls()
	if err != nil {
		t.Skip(err)
	}
	code, out, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfgPath, "j")
	after, err := procio.ReadCalls()
	if err != nil {
		t.Fatal(err)
	}
	if code != exitOK {
		t.Fatalf("sync: exit %d\n%s%s", code, out, stderr)
	}
	if nothing && !strings.Contains(out, "created 0, updated 0, deleted 0, conflicts 0, bytes 0 ") {
		t.Fatalf("a sync after the first moved something:\n%s%s", out, stderr)
	}
	return after - before
}

// checkFirstNoChangeReadsNothing runs a first sync and then two syncs
// that change nothing: the first of those must read no more than the
// second, whose caches know every file on both sides. A side whose scan
// cache did not learn what the first sync wrote (or copied) reads every
// file again, one read call each at least.
func checkFirstNoChangeReadsNothing(t *testing.T, ctx context.Context, cfgPath string) {
	t.Helper()
	syncReads(t, ctx, cfgPath, false)
	first := syncReads(t, ctx, cfgPath, true)
	second := syncReads(t, ctx, cfgPath, true)
	t.Logf("read calls: %d in the first sync after the first, %d in the next", first, second)
	if first-second > learnFiles/3 {
		t.Errorf("the first sync after the first sync made %d read calls, the next %d: it read the %d files again (a scan cache did not learn them)",
			first, second, learnFiles)
	}
}

// TestNoChangeSyncAfterFirstLocalReadsNothing: after a first `ferry sync`
// between two local folders, the next one reads no file on either side:
// the source's cache learned each file's hash as the copy read it, the
// destination's as the copy wrote it.
func TestNoChangeSyncAfterFirstLocalReadsNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	local, remote := filepath.Join(dir, "local"), filepath.Join(dir, "remote")
	mkdirs(t, local, remote)
	writeLearnTree(t, local)
	cfgPath := filepath.Join(dir, "jobs.yaml")
	write(t, cfgPath, fmt.Sprintf("state_dir: %s\njobs:\n  - name: j\n    local: %s\n    remote: %s\n    direction: local-to-remote\n",
		filepath.Join(dir, "state"), local, remote))
	checkFirstNoChangeReadsNothing(t, ctx, cfgPath)
}

// servedLearnJob starts `ferry serve` in this process over a fresh root
// and writes a jobs file with one job j between local and that root in
// direction.
func servedLearnJob(t *testing.T, direction string) (cfgPath, local, served string) {
	t.Helper()
	dir := t.TempDir()
	served, local = filepath.Join(dir, "served"), filepath.Join(dir, "local")
	mkdirs(t, served, local)
	key := filepath.Join(dir, "id_ed25519")
	line, _ := newKey(t, key)
	ak := filepath.Join(dir, "ferry_keys")
	write(t, ak, line+" tester@test\n")
	addr, _ := startServe(t, "--listen", "127.0.0.1:0", "--root", served, "--authorized-keys", ak,
		"--state-dir", filepath.Join(dir, "serve-state"), "--host-key", filepath.Join(dir, "host_ed25519"))
	cfgPath = filepath.Join(dir, "jobs.yaml")
	write(t, cfgPath, fmt.Sprintf("state_dir: %s\njobs:\n  - name: j\n    local: %s\n    remote: ferry://tester@%s/\n    identity: %s\n    direction: %s\n",
		filepath.Join(dir, "state"), local, addr, key, direction))
	return cfgPath, local, served
}

// TestNoChangeSyncAfterFirstPushReadsNothing: after a first `ferry sync`
// that pushes to a real `ferry serve`, the next one reads no file: the
// server's scan cache learned each file it received.
func TestNoChangeSyncAfterFirstPushReadsNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfgPath, local, _ := servedLearnJob(t, "local-to-remote")
	writeLearnTree(t, local)
	checkFirstNoChangeReadsNothing(t, ctx, cfgPath)
}

// TestNoChangeSyncAfterFirstPullReadsNothing: the same pulling from a
// real `ferry serve`: the local scan cache learned each file received.
func TestNoChangeSyncAfterFirstPullReadsNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfgPath, _, served := servedLearnJob(t, "remote-to-local")
	writeLearnTree(t, served)
	checkFirstNoChangeReadsNothing(t, ctx, cfgPath)
}

// TestAgentFirstSyncReadsEachFileOnce: `ferry run` syncs two local folders
// for the first time reading each source file once, by the copy, as
// `ferry sync` does (the scan leaves them unhashed, syncer.Options
// HashWhileCopying); before, the agent's scan read every file and the
// copy read it again.
func TestAgentFirstSyncReadsEachFileOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	local, remote := filepath.Join(dir, "local"), filepath.Join(dir, "remote")
	mkdirs(t, local, remote)
	writeLearnTree(t, local)
	cfgPath := filepath.Join(dir, "jobs.yaml")
	write(t, cfgPath, fmt.Sprintf("state_dir: %s\njobs:\n  - name: j\n    local: %s\n    remote: %s\n    direction: local-to-remote\n    interval: 1h\n",
		filepath.Join(dir, "state"), local, remote))
	before, err := procio.ReadCalls()
	if err != nil {
		t.Skip(err)
	}
	addr := startAgent(t, ctx, cfgPath)
	// Directory listings make no read calls: wait on them until every
	// file is there, then on the API (each request a few reads) for the
	// pass's end.
	for countFiles(t, remote) < learnFiles {
		select {
		case <-ctx.Done():
			t.Fatalf("the agent's first pass did not copy the %d files in time (%d there)", learnFiles, countFiles(t, remote))
		case <-time.After(20 * time.Millisecond):
		}
	}
	var last *snapshot.PassRecord
	for last == nil {
		select {
		case <-ctx.Done():
			t.Fatal("the agent's first pass did not end in time")
		case <-time.After(50 * time.Millisecond):
		}
		last = apiLastPass(t, ctx, addr)
	}
	reads, err := procio.ReadCalls()
	if err != nil {
		t.Fatal(err)
	}
	reads -= before
	if last.Created < learnFiles || last.Err != "" {
		t.Fatalf("the agent's first pass: %+v", last)
	}
	t.Logf("%d read calls for the agent's first sync of %d files", reads, learnFiles)
	// Read by the scan and by the copy, that is two read calls a file.
	if reads > learnFiles+learnFiles/2 {
		t.Errorf("the agent's first sync made %d read calls for %d files: its scan read them before the copy did", reads, learnFiles)
	}
}

// countFiles counts the regular files below root.
func countFiles(t *testing.T, root string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// apiLastPass returns the job's last pass as the agent's API tells it,
// nil while there is none.
func apiLastPass(t *testing.T, ctx context.Context, addr string) *snapshot.PassRecord {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/api/v1/jobs/j", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var j struct {
		Last *snapshot.PassRecord `json:"last"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil {
		t.Fatal(err)
	}
	return j.Last
}
