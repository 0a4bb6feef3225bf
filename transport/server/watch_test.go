package server

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/tree"
)

// TestWatchSendsStatesOnlyWhenAsked: a Watch that asks for states gets
// each changed path's state as the server lstats it when it sends; one
// that does not (an agent of an earlier release, whose decoder allows no
// trailing field) gets its Changed frames exactly as before.
func TestWatchSendsStatesOnlyWhenAsked(t *testing.T) {
	ts := startServer(t, nil)
	c, err := ts.sshClient(t, ts.signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rawCall(t, c, control.Hello{Version: control.Version}); err != nil {
		t.Fatal(err)
	}
	watch := func(states bool) (next func(path string) control.Changed) {
		ch, reqs, err := c.OpenChannel(control.ChannelType, control.Append(nil, control.Watch{States: states}))
		if err != nil {
			t.Fatal(err)
		}
		go ssh.DiscardRequests(reqs)
		t.Cleanup(func() { ch.Close() })
		ms := make(chan control.Msg, 16)
		go func() {
			defer close(ms)
			for {
				m, _, err := control.ReadFrame(ch, nil)
				if err != nil {
					return
				}
				ms <- m
			}
		}()
		// next waits (bounded) for the Changed frame naming path, or the
		// armed one when path is "".
		return func(path string) control.Changed {
			t.Helper()
			timeout := time.After(20 * time.Second)
			for {
				select {
				case m, ok := <-ms:
					cm, isChanged := m.(control.Changed)
					if !ok || !isChanged {
						t.Fatalf("watch sent %#v, want Changed frames", m)
					}
					if path == "" && cm.Rescan || path != "" && slices.Contains(cm.Paths, path) {
						return cm
					}
				case <-timeout:
					t.Fatalf("no Changed frame for %q within 20s", path)
				}
			}
		}
	}
	asked, plain := watch(true), watch(false)
	asked("")
	plain("")

	staged := filepath.Join(ts.dir, "f.txt")
	if err := os.WriteFile(staged, []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(staged, 0o600); err != nil {
		t.Fatal(err)
	}
	mtime := time.Unix(1_700_000_000, 42)
	if err := os.Chtimes(staged, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(staged, filepath.Join(ts.root, "f.txt")); err != nil {
		t.Fatal(err)
	}
	got := asked("f.txt")
	if len(got.States) != len(got.Paths) {
		t.Fatalf("%d states for paths %v", len(got.States), got.Paths)
	}
	want := tree.Entry{Path: "f.txt", Kind: tree.File, Size: 3, Mtime: mtime.UnixNano(), Mode: 0o600}
	if s := got.States[slices.Index(got.Paths, "f.txt")]; s != want {
		t.Fatalf("state of f.txt %+v, want %+v", s, want)
	}
	if got := plain("f.txt"); got.States != nil {
		t.Fatalf("a Watch that did not ask got states %+v", got.States)
	}

	if err := os.Remove(filepath.Join(ts.root, "f.txt")); err != nil {
		t.Fatal(err)
	}
	got = asked("f.txt")
	if s := got.States[slices.Index(got.Paths, "f.txt")]; s != (tree.Entry{Path: "f.txt"}) {
		t.Fatalf("state of the removed f.txt %+v, want absent", s)
	}
}
