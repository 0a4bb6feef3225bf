package server

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/tree"
	"github.com/ferry-sync/ferry/versions"
)

// manualClock is a server clock moved by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestAgentCannotReachTheVersionStore: no request names a path in a
// version store, at the top or deeper, to read, write or delete it, no
// Hello opens one, and no scan lists one.
func TestAgentCannotReachTheVersionStore(t *testing.T) {
	ts := startServer(t, nil)
	kept := ".ferry-versions/a~20261207-140512.123Z~deleted.txt"
	for _, p := range []string{kept, "sub/.ferry-versions/x", "sub/y"} {
		full := filepath.Join(ts.root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := ts.hello(t, "")
	for _, e := range rawScan(t, c) {
		if versions.IsStorePath(e.Path) {
			t.Errorf("the scan lists %s", e.Path)
		}
	}
	entry := func(p string) tree.Entry { return tree.Entry{Path: p, Kind: tree.File, Size: 3, Mode: 0o644} }
	for _, p := range []string{kept, ".ferry-versions", "sub/.ferry-versions/x", ".FERRY-VERSIONS/new", ".ferry-versions/new"} {
		for _, req := range []control.Msg{
			control.Stat{Path: p}, control.Open{Path: p}, control.Get{Path: p, Expect: entry(p)},
			control.Remove{Path: p, Expect: entry(p)}, control.Mkdir{Path: p, Mode: 0o755},
			control.Symlink{Path: p, Target: "x", Expect: entry(p)}, control.SetMeta{Path: p, Mode: 0o777},
			control.Rename{From: p, To: "stolen", Expect: entry(p)}, control.Rename{From: "sub/y", To: p, Expect: entry("sub/y")},
			control.Copy{From: "sub/y", FromExpect: entry("sub/y"), Meta: entry(p), Expect: entry(p)},
		} {
			if _, err := rawCall(t, c, req); !errors.Is(err, tree.ErrInvalidPath) {
				t.Errorf("%T %s: %v, want ErrInvalidPath", req, p, err)
			}
		}
		if err := rawCreate(t, c, entry(p), []control.Data{{Data: []byte("pwn")}}); !errors.Is(err, tree.ErrInvalidPath) {
			t.Errorf("Create %s: %v, want ErrInvalidPath", p, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(ts.root, filepath.FromSlash(kept))); err != nil || string(b) != "old" {
		t.Errorf("the kept version is now %q, %v", b, err)
	}
	for _, p := range []string{".ferry-versions", "sub/.ferry-versions"} {
		c2, err := ts.sshClient(t, ts.signer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rawCall(t, c2, control.Hello{Version: control.Version, Path: p}); !errors.Is(err, tree.ErrInvalidPath) {
			t.Errorf("Hello %s: %v, want ErrInvalidPath", p, err)
		}
	}
}

// TestHostileAgentDeletingEverythingLeavesVersions: an agent that deletes
// every file it can see on the server leaves every one in the root's
// version store, kept by the server's policy whatever the agent's job
// says; the server prunes them on its own clock once they are older than
// the policy's max_age.
func TestHostileAgentDeletingEverythingLeavesVersions(t *testing.T) {
	clock := &manualClock{t: time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)}
	ts := startServer(t, func(c *Config) {
		c.Clock = clock
		c.Versions = versions.Policy{Keep: versions.KeepTrashcan, MaxAge: 30 * 24 * time.Hour}
	})
	files := map[string]string{"a.txt": "alpha", "d/b.txt": "bravo", "d/e/c": "charlie"}
	for p, content := range files {
		full := filepath.Join(ts.root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := ts.hello(t, "")
	listed := rawScan(t, c)
	// Deepest first, as a pass deletes.
	for i := len(listed) - 1; i >= 0; i-- {
		if _, err := rawCall(t, c, control.Remove{Path: listed[i].Path, Expect: listed[i]}); err != nil {
			t.Fatalf("Remove %s: %v", listed[i].Path, err)
		}
	}
	if es := rawScan(t, c); len(es) != 0 {
		t.Fatalf("after the deletes the root lists %v", es)
	}
	store, err := versions.Open(ts.root, versions.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	list, err := store.List("")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(files) {
		t.Fatalf("the store holds %+v, want every file", list)
	}
	for _, v := range list {
		f, err := store.Open(v)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 64)
		n, _ := f.Read(b)
		f.Close()
		if string(b[:n]) != files[v.Path] || v.Reason != versions.Deleted || !v.Time.Equal(clock.Now()) {
			t.Errorf("version %+v holds %q, want %q deleted at %v", v, b[:n], files[v.Path], clock.Now())
		}
	}

	// 29 days on, a scan prunes nothing; 31 days on, everything.
	clock.add(29 * 24 * time.Hour)
	rawScan(t, c)
	if list, _ := store.List(""); len(list) != len(files) {
		t.Fatalf("29 days on the store holds %d versions, want %d", len(list), len(files))
	}
	clock.add(2 * 24 * time.Hour)
	rawScan(t, c)
	if list, _ := store.List(""); len(list) != 0 {
		t.Fatalf("31 days on the store still holds %+v", list)
	}
}
