package server

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/tree"
)

// scanRequest lists the folder at the protocol level with req.
func scanRequest(t *testing.T, c *ssh.Client, req control.Scan) []string {
	t.Helper()
	ch, reqs, err := c.OpenChannel(control.ChannelType, control.Append(nil, req))
	if err != nil {
		t.Fatal(err)
	}
	go ssh.DiscardRequests(reqs)
	defer ch.Close()
	var out []string
	for range 1 << 20 {
		m, _, err := control.ReadFrame(ch, nil)
		if err != nil {
			t.Fatal(err)
		}
		switch m := m.(type) {
		case control.Entries:
			for _, e := range m.Entries {
				out = append(out, e.Path)
			}
		case control.OK:
			return out
		default:
			t.Fatalf("scan answered %#v", m)
		}
	}
	t.Fatal("scan does not end")
	return nil
}

// TestScanWithinListsOnlyTheScope: a scan request carrying Within is
// answered with the scope's listing (the directories above each path and
// each path's subtree), and a whole scan after it still works.
func TestScanWithinListsOnlyTheScope(t *testing.T) {
	ts := startServer(t, nil)
	for _, p := range []string{"a/b/1", "a/b/2", "a/c", "d/3"} {
		full := filepath.Join(ts.root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := ts.hello(t, "")
	defer c.Close()
	whole := scanRequest(t, c, control.Scan{})
	if want := []string{"a", "a/b", "a/b/1", "a/b/2", "a/c", "d", "d/3"}; !reflect.DeepEqual(whole, want) {
		t.Fatalf("whole scan %q, want %q", whole, want)
	}
	got := scanRequest(t, c, control.Scan{Within: []string{"a/b/2", "d"}})
	if want := []string{"a", "a/b", "a/b/2", "d", "d/3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("scan within a/b/2 and d: %q, want %q", got, want)
	}
	es := rawScan(t, c)
	for _, e := range es {
		if e.Kind == tree.File && e.Hash == 0 {
			t.Fatalf("%s has no hash", e.Path)
		}
	}
}
