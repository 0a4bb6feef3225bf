package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/versions"
)

// versionsIn lists what the version store of folder holds: the path and
// content of each version, by reason.
func versionsIn(t *testing.T, folder string) map[string]string {
	t.Helper()
	s, err := versions.Open(folder, versions.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	list, err := s.List("")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
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
		got[v.Path+" "+string(v.Reason)] += string(b)
	}
	return got
}

func sameVersions(t *testing.T, side string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s versions: %q, want %q", side, got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s versions: %q, want %q", side, got, want)
			return
		}
	}
}

// TestSyncKeepsVersionsOnBothSides: a two-way ferry sync against a real
// ferry serve with real keys. A delete and an overwrite made on the
// server leave the old content in the local .ferry-versions/; a delete
// and an overwrite the agent pushes leave it in the server root's; neither
// store reaches the other side. A job with keep: none keeps nothing
// locally, but the server still keeps: its policy is its owner's.
func TestSyncKeepsVersionsOnBothSides(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	served, local, localNone := filepath.Join(dir, "served"), filepath.Join(dir, "local"), filepath.Join(dir, "local-none")
	mkdirs(t, filepath.Join(served, "main"), filepath.Join(served, "none"), local, localNone)
	id := filepath.Join(dir, "id")
	line, _ := newKey(t, id)
	write(t, filepath.Join(dir, "alice.keys"), line+"\n")
	write(t, filepath.Join(dir, "server.yaml"), "listen: 127.0.0.1:0\nstate_dir: "+filepath.Join(dir, "serve-state")+
		"\nusers:\n  - name: alice\n    root: "+served+"\n    authorized_keys: "+filepath.Join(dir, "alice.keys")+"\n")
	addr, _ := startServe(t, "--config", filepath.Join(dir, "server.yaml"))
	cfg := filepath.Join(dir, "jobs.yaml")
	write(t, cfg, "state_dir: "+filepath.Join(dir, "state")+"\njobs:\n"+
		"  - {name: main, local: "+local+", remote: 'ferry://alice@"+addr+"/main', identity: "+id+", direction: two-way}\n"+
		"  - name: none\n    local: "+localNone+"\n    remote: 'ferry://alice@"+addr+"/none'\n    identity: "+id+
		"\n    direction: two-way\n    versions: {keep: none}\n")
	sync := func(job string) {
		t.Helper()
		if code, out, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--config", cfg, job); code != exitOK {
			t.Fatalf("ferry sync %s: exit %d\n%s\n%s", job, code, out, stderr)
		}
	}

	for _, l := range []string{local, localNone} {
		for _, name := range []string{"server-edits", "server-deletes", "agent-edits", "agent-deletes"} {
			write(t, filepath.Join(l, "d", name+".txt"), "first "+name)
		}
	}
	sync("main")
	sync("none")
	for _, c := range []struct {
		job, local, served string
	}{{"main", local, filepath.Join(served, "main")}, {"none", localNone, filepath.Join(served, "none")}} {
		if got := read(t, filepath.Join(c.served, "d", "agent-deletes.txt")); got != "first agent-deletes" {
			t.Fatalf("%s: first sync: served holds %q", c.job, got)
		}
		// Sizes change with each edit, so no scan can miss one.
		write(t, filepath.Join(c.served, "d", "server-edits.txt"), "second, from the server")
		if err := os.Remove(filepath.Join(c.served, "d", "server-deletes.txt")); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(c.local, "d", "agent-edits.txt"), "second, from the agent")
		if err := os.Remove(filepath.Join(c.local, "d", "agent-deletes.txt")); err != nil {
			t.Fatal(err)
		}
		sync(c.job)
		if got := read(t, filepath.Join(c.local, "d", "server-edits.txt")); got != "second, from the server" {
			t.Fatalf("%s: local server-edits.txt = %q", c.job, got)
		}
		if got := read(t, filepath.Join(c.served, "d", "agent-edits.txt")); got != "second, from the agent" {
			t.Fatalf("%s: served agent-edits.txt = %q", c.job, got)
		}
		for _, p := range []string{filepath.Join(c.local, "d", "server-deletes.txt"), filepath.Join(c.served, "d", "agent-deletes.txt")} {
			if _, err := os.Lstat(p); err == nil {
				t.Fatalf("%s: %s was not deleted", c.job, p)
			}
		}
	}

	sameVersions(t, "local (main)", versionsIn(t, local), map[string]string{
		"d/server-edits.txt replaced":  "first server-edits",
		"d/server-deletes.txt deleted": "first server-deletes",
	})
	sameVersions(t, "served (main)", versionsIn(t, filepath.Join(served, "main")), map[string]string{
		"d/agent-edits.txt replaced":  "first agent-edits",
		"d/agent-deletes.txt deleted": "first agent-deletes",
	})
	// keep: none on the agent: nothing kept there, not even a store.
	if _, err := os.Lstat(filepath.Join(localNone, versions.Dir)); err == nil {
		t.Errorf("keep: none made a version store in %s", localNone)
	}
	// The server's policy is its owner's: it still keeps.
	sameVersions(t, "served (none)", versionsIn(t, filepath.Join(served, "none")), map[string]string{
		"d/agent-edits.txt replaced":  "first agent-edits",
		"d/agent-deletes.txt deleted": "first agent-deletes",
	})

	// Another pass moves nothing: neither store is seen by the other side.
	code, out, stderr := runCLI(t, ctx, "sync", "--json", "--config", cfg, "main")
	var doc struct {
		Pass struct{ Created, Updated, Deleted, Problems int }
	}
	if err := json.Unmarshal([]byte(out), &doc); code != exitOK || err != nil || doc.Pass.Created+doc.Pass.Updated+doc.Pass.Deleted+doc.Pass.Problems != 0 {
		t.Errorf("a pass after the versions were kept: exit %d, %v\n%s\n%s", code, err, out, stderr)
	}
	for _, p := range []string{filepath.Join(served, "main", versions.Dir, "d", "server-edits"), filepath.Join(local, versions.Dir, "d", "agent-edits")} {
		matches, _ := filepath.Glob(p + "*")
		if len(matches) != 0 {
			t.Errorf("a version crossed to the other side: %q", matches)
		}
	}
}
