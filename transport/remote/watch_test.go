package remote_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/internal/watch"
	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/transport/remote"
	"github.com/ferry-sync/ferry/transport/server"
	"github.com/ferry-sync/ferry/tree"
)

type notice struct {
	paths  []string
	states []tree.Entry
	rescan bool
}

// watching runs ep.Watch until the test ends; notices arrive on the
// channel returned, and Watch's result on the other.
func watching(t *testing.T, ep *remote.Endpoint, exclude []string) (<-chan notice, <-chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	ns := make(chan notice, 64)
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		errc <- ep.Watch(ctx, exclude, func(paths []string, states []tree.Entry, rescan bool) {
			select {
			case ns <- notice{paths, states, rescan}:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ns, errc
}

// waitNotice waits (bounded) for a notice that names path, or a rescan
// when path is "", and returns it.
func waitNotice(t *testing.T, ns <-chan notice, path string) notice {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case n := <-ns:
			if path == "" && n.rescan || path != "" && slices.Contains(n.paths, path) {
				return n
			}
		case <-timeout:
			t.Fatalf("no notice for %q within 20s", path)
			return notice{}
		}
	}
}

// stateIn returns the state n tells of path.
func stateIn(t *testing.T, n notice, path string) tree.Entry {
	t.Helper()
	if len(n.states) != len(n.paths) {
		t.Fatalf("notice %+v: %d states for %d paths", n, len(n.states), len(n.paths))
	}
	return n.states[slices.Index(n.paths, path)]
}

// TestWatchTellsStateOfChangedPaths: each path of a notice comes with its
// state as the server saw it when it sent the notice (kind, size, mtime,
// permissions, link target), and a path that is gone as absent, so the
// agent can tell its own writes from later ones.
func TestWatchTellsStateOfChangedPaths(t *testing.T) {
	e := newEnv(t, nil)
	ep := e.mustDial(nil)
	ns, _ := watching(t, ep, nil)
	waitNotice(t, ns, "")

	p := filepath.Join(e.root, "a.txt")
	staged := filepath.Join(e.dir, "a.txt")
	if err := os.WriteFile(staged, []byte("hello"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(staged, 0o640); err != nil {
		t.Fatal(err)
	}
	mtime := time.Unix(1_700_000_000, 123456789)
	if err := os.Chtimes(staged, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(staged, p); err != nil { // one event, whole
		t.Fatal(err)
	}
	got := stateIn(t, waitNotice(t, ns, "a.txt"), "a.txt")
	want := tree.Entry{Path: "a.txt", Kind: tree.File, Size: 5, Mtime: mtime.UnixNano(), Mode: 0o640}
	if got != want {
		t.Fatalf("state of a.txt %+v, want %+v", got, want)
	}

	if err := os.Symlink("a.txt", filepath.Join(e.root, "l")); err != nil {
		t.Fatal(err)
	}
	if got := stateIn(t, waitNotice(t, ns, "l"), "l"); got.Kind != tree.Symlink || got.Target != "a.txt" {
		t.Fatalf("state of l %+v, want a symlink to a.txt", got)
	}

	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if got := stateIn(t, waitNotice(t, ns, "a.txt"), "a.txt"); got != (tree.Entry{Path: "a.txt"}) {
		t.Fatalf("state of removed a.txt %+v, want absent", got)
	}
}

// TestWatchPushesServerChanges: the server's watch is armed (a rescan
// notice), then names each file written below the folder, in new
// directories too, but not excluded ones; after the server restarts it
// is armed again on a new connection.
func TestWatchPushesServerChanges(t *testing.T) {
	e := newEnv(t, nil)
	ep := e.mustDial(func(o *remote.Options) { o.RedialMin = 10 * time.Millisecond; o.RedialMax = 50 * time.Millisecond })
	ns, _ := watching(t, ep, []string{"*.tmp"})
	waitNotice(t, ns, "")

	write := func(rel string) {
		p := filepath.Join(e.root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(rel), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("skip.tmp")
	write("a.txt")
	waitNotice(t, ns, "a.txt")
	if err := os.MkdirAll(filepath.Join(e.root, "new", "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	waitNotice(t, ns, "new")
	write("new/deep/b.txt")
	waitNotice(t, ns, "new/deep/b.txt")
	// Nothing above named the excluded file: it came first, so had it
	// been sent it would have been in a batch before a.txt's.

	e.stop()
	e.start()
	waitNotice(t, ns, "") // armed again: what changed meanwhile is worth a scan
	write("c.txt")
	waitNotice(t, ns, "c.txt")
}

// TestWatchFailureSaysWhyOnce: a server that cannot watch the folder (its
// watcher refuses every directory, as at the inotify limit) answers with
// ErrNoWatch naming the sysctl to raise, and Watch returns it instead of
// trying again.
func TestWatchFailureSaysWhyOnce(t *testing.T) {
	e := newEnv(t, func(c *server.Config) {
		c.Watcher = func() (watch.Watcher, error) {
			w, err := watch.NewFS()
			if err != nil {
				return nil, err
			}
			return refusing{w}, nil
		}
	})
	ep := e.mustDial(nil)
	ns, errc := watching(t, ep, nil)
	select {
	case err := <-errc:
		if !errors.Is(err, control.ErrNoWatch) {
			t.Fatalf("Watch returned %v, want ErrNoWatch", err)
		}
		if !strings.Contains(err.Error(), "fs.inotify.max_user_watches") {
			t.Fatalf("error does not name the sysctl to raise: %v", err)
		}
	case n := <-ns:
		t.Fatalf("a watch that cannot watch sent %+v", n)
	case <-time.After(20 * time.Second):
		t.Fatal("Watch did not return")
	}
	// The folder still works for passes.
	if _, err := ep.FreeSpace(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// refusing is a real watcher that cannot add a watch.
type refusing struct{ watch.Watcher }

func (refusing) Add(string) error { return errors.New("inotify_add_watch: no space left on device") }

// limitedFS is a real watcher that holds at most n watches and refuses
// more with ENOSPC, as inotify does at max_user_watches.
type limitedFS struct {
	watch.Watcher
	mu   sync.Mutex
	n    int
	held map[string]bool
}

func (w *limitedFS) Add(name string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.held[name] && len(w.held) >= w.n {
		return fmt.Errorf("%q: %w", name, syscall.ENOSPC)
	}
	if err := w.Watcher.Add(name); err != nil {
		return err
	}
	w.held[name] = true
	return nil
}

// TestWatchLimitOnServerSaysSoOnce: a server whose watcher reaches the
// inotify watch limit when a directory is made below the folder (it
// watched the folder and the directory already there, and pushed their
// changes) ends the watch with ErrNoWatch saying that the limit is reached
// on the server and naming the sysctl once; the client then polls, and the
// folder still serves passes.
func TestWatchLimitOnServerSaysSoOnce(t *testing.T) {
	e := newEnv(t, func(c *server.Config) {
		c.Watcher = func() (watch.Watcher, error) {
			w, err := watch.NewFS()
			if err != nil {
				return nil, err
			}
			return &limitedFS{Watcher: w, n: 2, held: map[string]bool{}}, nil
		}
	})
	if err := os.Mkdir(filepath.Join(e.root, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	ep := e.mustDial(nil)
	ns, errc := watching(t, ep, nil)
	waitNotice(t, ns, "") // armed: the folder and a are watched
	if err := os.WriteFile(filepath.Join(e.root, "a", "f.txt"), []byte("f"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitNotice(t, ns, "a/f.txt")

	if err := os.Mkdir(filepath.Join(e.root, "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, control.ErrNoWatch) {
			t.Fatalf("Watch returned %v, want ErrNoWatch", err)
		}
		msg := err.Error()
		if n := strings.Count(msg, "fs.inotify.max_user_watches"); n != 1 || !strings.Contains(msg, "watch limit is reached on the server") ||
			!strings.Contains(msg, filepath.Join(e.root, "b")) {
			t.Fatalf("error does not say once that the server's limit is reached at b, with the sysctl (%d times): %v", n, msg)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Watch did not return at the limit")
	}
	if _, err := ep.FreeSpace(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestWatchOfAnEarlierServerAsksWithoutStates: a server of an earlier
// release refuses a Watch that asks for states as malformed (its decoder
// allows no trailing field); Watch asks again without them and tells the
// notices with no states, so the agent runs a pass for each as before.
func TestWatchOfAnEarlierServerAsksWithoutStates(t *testing.T) {
	dir := t.TempDir()
	hostKey := writeKey(t, filepath.Join(dir, "host"))
	writeKey(t, filepath.Join(dir, "client"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) { return nil, nil }}
	cfg.AddHostKey(hostKey)
	refused := make(chan struct{}, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		_, chans, reqs, err := ssh.NewServerConn(nc, cfg)
		if err != nil {
			t.Error(err)
			return
		}
		go ssh.DiscardRequests(reqs)
		for newCh := range chans {
			m, _, err := control.Parse(newCh.ExtraData())
			if w, ok := m.(control.Watch); err != nil || ok && w.States {
				// As ferry serve answers a request it cannot decode.
				newCh.Reject(ssh.Prohibited, "malformed request: unable to decode message type 26: control message malformed: 1 trailing bytes")
				refused <- struct{}{}
				continue
			}
			ch, rq, err := newCh.Accept()
			if err != nil {
				return
			}
			go ssh.DiscardRequests(rq)
			switch m.(type) {
			case control.Hello:
				control.WriteFrame(ch, nil, control.Welcome{Version: control.Version, User: "tester"})
				ch.Close()
			case control.Watch:
				control.WriteFrame(ch, nil, control.Changed{Rescan: true})
				control.WriteFrame(ch, nil, control.Changed{Paths: []string{"a.txt"}})
				// Held open until the client closes it, as a watch is.
				go func() { _, _ = io.Copy(io.Discard, ch); ch.Close() }()
			default:
				t.Errorf("request %T, want Hello and Watch", m)
				ch.Close()
			}
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	ep, err := remote.New(remote.Options{
		User: "tester", Host: host, Port: p,
		IdentityFile: filepath.Join(dir, "client"), KnownHostsFile: filepath.Join(dir, "known_hosts"),
		AcceptNewHostKey: true, Transport: config.TCP, DialTimeout: 20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	ns, _ := watching(t, ep, nil)
	waitNotice(t, ns, "")
	select {
	case <-refused:
	default:
		t.Fatal("the Watch did not ask for states first")
	}
	if n := waitNotice(t, ns, "a.txt"); n.states != nil {
		t.Fatalf("notice of an earlier server with states %+v, want none", n.states)
	}
}
