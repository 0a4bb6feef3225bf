package server

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/tree"
)

// rawScan lists the folder at the protocol level.
func rawScan(t *testing.T, c *ssh.Client) []tree.Entry {
	t.Helper()
	ch, reqs, err := c.OpenChannel(control.ChannelType, control.Append(nil, control.Scan{}))
	if err != nil {
		t.Fatal(err)
	}
	go ssh.DiscardRequests(reqs)
	defer ch.Close()
	var out []tree.Entry
	for {
		m, _, err := control.ReadFrame(ch, nil)
		if err != nil {
			t.Fatal(err)
		}
		switch m := m.(type) {
		case control.Entries:
			out = append(out, m.Entries...)
		case control.OK:
			return out
		default:
			t.Fatalf("scan answered %#v", m)
		}
	}
}

// Two sessions on one folder share its scan cache: bbolt locks the file,
// so a second opener would otherwise fail or wait. The cache is written
// after a scan and read back with the files' hashes.
func TestSessionsShareAFoldersScanCache(t *testing.T) {
	ts := startServer(t, nil)
	if err := os.WriteFile(filepath.Join(ts.root, "a"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	c1 := ts.hello(t, "")
	c2 := ts.hello(t, "")
	for _, c := range []*ssh.Client{c1, c2} {
		es := rawScan(t, c)
		if len(es) != 1 || es[0].Path != "a" || es[0].Hash == 0 {
			t.Fatalf("scan: %+v", es)
		}
	}
	c1.Close()
	c2.Close()
	// Once both sessions are gone the database is closed and can be read.
	dbs, _ := filepath.Glob(filepath.Join(ts.dir, "state", "roots", "*.db"))
	if len(dbs) != 1 {
		t.Fatalf("scan cache files: %v", dbs)
	}
	var db *snapshot.DB
	var err error
	// The server closes it as its session handlers finish: polled for
	// (bounded), as nothing outside the server says when.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if db, err = snapshot.Open(dbs[0]); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cache, err := db.Cache("server")
	if err != nil {
		t.Fatal(err)
	}
	e, ok := cache.Lookup("a")
	if !ok || e.Size != 5 || e.Hash == 0 {
		t.Fatalf("cache holds %+v %v", e, ok)
	}
}
