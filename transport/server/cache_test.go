package server

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/delta/chunk"
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

// TestServerChunksAnswerFromTheScansList: a served folder's scan keeps the
// chunk lists of its large files in the folder's database, and a Chunks
// request is answered from them without reading the file. Proven by
// rewriting the file's bytes in place with its mtime set back after the
// scan: the answer is the list of what the scan read, where a read would
// have reported the file changed.
func TestServerChunksAnswerFromTheScansList(t *testing.T) {
	ts := startServer(t, nil)
	rng := rand.New(rand.NewPCG(5, 5))
	old := make([]byte, 2<<20)
	for i := range old {
		old[i] = byte(rng.Uint32())
	}
	p := filepath.Join(ts.root, "big")
	if err := os.WriteFile(p, old, 0o644); err != nil {
		t.Fatal(err)
	}
	c := ts.hello(t, "")
	es := rawScan(t, c)
	if len(es) != 1 || es[0].Path != "big" || es[0].Hash == 0 {
		t.Fatalf("scan: %+v", es)
	}

	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("not what was scanned"), 1<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}

	m, err := rawCall(t, c, control.Chunks{Path: "big", Expect: es[0]})
	if err != nil {
		t.Fatalf("Chunks: %v (the server read the file instead of using its scan's list)", err)
	}
	ch, _ := chunk.New(int64(len(old)), nil)
	ch.Write(old)
	want, err := ch.List()
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := m.(control.ChunkList); !ok || !reflect.DeepEqual(got.List, want) {
		t.Fatalf("Chunks answered %T, want the scan's list of %d chunks", m, len(want.Chunks))
	}
}
