package server

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/transport/wire"
	"github.com/ferry-sync/ferry/tree"
)

// rawCreate writes a whole file at the protocol level: Create, Data frames
// as given, Commit.
func rawCreate(t *testing.T, c *ssh.Client, meta tree.Entry, data []control.Data) error {
	t.Helper()
	ch, reqs, err := c.OpenChannel(control.ChannelType, control.Append(nil, control.Create{Meta: meta}))
	if err != nil {
		return err
	}
	go ssh.DiscardRequests(reqs)
	defer ch.Close()
	m, _, err := control.ReadFrame(ch, nil)
	if err != nil {
		return err
	}
	if e, ok := m.(control.Error); ok {
		return e.Err()
	}
	for _, d := range data {
		if _, err := ch.Write(control.Append(nil, d)); err != nil {
			return err
		}
	}
	if _, err := ch.Write(control.Append(nil, control.Commit{})); err != nil {
		return err
	}
	m, _, err = control.ReadFrame(ch, nil)
	if err != nil {
		return err
	}
	if e, ok := m.(control.Error); ok {
		return e.Err()
	}
	if _, ok := m.(control.OK); !ok {
		t.Fatalf("Commit answered with %T", m)
	}
	return nil
}

func TestHostileRequestsStayInsideTheRoot(t *testing.T) {
	ts := startServer(t, nil)
	outside := filepath.Join(ts.dir, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	sentinel := filepath.Join(outside, "sentinel.txt")
	if err := os.WriteFile(sentinel, []byte("precious"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(ts.root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(ts.root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts.root, "sub", "x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	sfi, err := os.Lstat(sentinel)
	if err != nil {
		t.Fatal(err)
	}
	sentinelEntry := tree.Entry{Path: "escape/sentinel.txt", Kind: tree.File, Size: 8, Mode: 0o640, Mtime: sfi.ModTime().UnixNano()}

	c, err := ts.sshClient(t, ts.signer)
	if err != nil {
		t.Fatal(err)
	}
	// Before Hello there is no folder at all.
	if _, err := rawCall(t, c, control.Stat{Path: "sub/x"}); !errors.Is(err, control.ErrProtocol) {
		t.Fatalf("Stat before Hello: %v, want ErrProtocol", err)
	}
	for _, p := range []string{"escape", "../outside", "/", "/etc", "sub/../../outside", "sub\x00"} {
		if _, err := rawCall(t, c, control.Hello{Version: control.Version, Path: p}); err == nil {
			t.Fatalf("Hello %q was accepted", p)
		}
	}
	if _, err := rawCall(t, c, control.Hello{Version: control.Version, Path: "sub", PartialSuffix: "/../../x"}); !errors.Is(err, tree.ErrInvalidPath) {
		t.Fatalf("Hello with a partial suffix holding a slash: %v, want ErrInvalidPath", err)
	}
	if _, err := rawCall(t, c, control.Hello{Version: control.Version}); err != nil {
		t.Fatal(err)
	}

	long := strings.Repeat("a/", 2100) + "b"
	invalid := []string{"../outside/sentinel.txt", "/etc/passwd", "sub/../../outside/sentinel.txt", "a\x00b", long, "", "sub//x", "./sub"}
	for _, p := range invalid {
		reqs := []control.Msg{
			control.Stat{Path: p}, control.Mkdir{Path: p, Mode: 0o755}, control.Open{Path: p},
			control.Symlink{Path: p, Target: "/etc/passwd"}, control.Remove{Path: p},
			control.Rename{From: "sub/x", To: p}, control.Rename{From: p, To: "sub/y"},
			control.SetMeta{Path: p, Mode: 0o777}, control.Get{Path: p},
			control.Copy{From: p, Meta: tree.Entry{Path: "sub/y", Kind: tree.File, Size: 1}},
			control.Copy{From: "sub/x", Meta: tree.Entry{Path: p, Kind: tree.File, Size: 1}},
		}
		for _, req := range reqs {
			if _, err := rawCall(t, c, req); !errors.Is(err, tree.ErrInvalidPath) {
				t.Errorf("%T %q: %v, want ErrInvalidPath", req, p, err)
			}
		}
		if err := rawCreate(t, c, tree.Entry{Path: p, Kind: tree.File, Size: 1}, []control.Data{{Data: []byte("!")}}); !errors.Is(err, tree.ErrInvalidPath) {
			t.Errorf("Create %q: %v, want ErrInvalidPath", p, err)
		}
	}

	// Valid paths that go through the symlink to outside the root.
	through := []control.Msg{
		control.Stat{Path: "escape/sentinel.txt"},
		control.Open{Path: "escape/sentinel.txt"},
		control.Get{Path: "escape/sentinel.txt", Expect: sentinelEntry},
		control.Mkdir{Path: "escape/newdir", Mode: 0o755},
		control.Symlink{Path: "escape/link", Target: "/etc/passwd"},
		control.Remove{Path: "escape/sentinel.txt", Expect: sentinelEntry},
		control.Rename{From: "sub/x", To: "escape/x", Expect: tree.Entry{Path: "sub/x", Kind: tree.File, Size: 1, Mode: 0o644}},
		control.Rename{From: "escape/sentinel.txt", To: "stolen", Expect: sentinelEntry},
		control.SetMeta{Path: "escape/sentinel.txt", Mode: 0o777, Mtime: 1},
		control.Copy{From: "escape/sentinel.txt", FromExpect: sentinelEntry, Meta: tree.Entry{Path: "copied", Kind: tree.File, Size: 8, Mode: 0o644}},
		control.Copy{From: "sub/x", FromExpect: tree.Entry{Path: "sub/x", Kind: tree.File, Size: 1, Mode: 0o644},
			Meta: tree.Entry{Path: "escape/copied", Kind: tree.File, Size: 1, Mode: 0o644}},
	}
	for _, req := range through {
		m, err := rawCall(t, c, req)
		if err == nil {
			// Open answers Opened before any byte is read; that alone
			// must not be possible either.
			t.Errorf("%T through a symlink leaving the root succeeded: %#v", req, m)
		}
	}
	for _, name := range []string{"escape/new.txt", "escape/sentinel.txt"} {
		err := rawCreate(t, c, tree.Entry{Path: name, Kind: tree.File, Size: 3, Mode: 0o644}, []control.Data{{Data: []byte("pwn")}})
		if err == nil {
			t.Errorf("Create %s through a symlink leaving the root succeeded", name)
		}
	}
	// A write past the declared size is refused and leaves no file.
	err = rawCreate(t, c, tree.Entry{Path: "big", Kind: tree.File, Size: 2, Mode: 0o644}, []control.Data{{Off: 1, Data: []byte("abc")}})
	if !errors.Is(err, control.ErrProtocol) {
		t.Errorf("write past the end: %v, want ErrProtocol", err)
	}
	if _, err := os.Lstat(filepath.Join(ts.root, "big")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("write past the end left a file: %v", err)
	}

	got, err := os.ReadFile(sentinel)
	if err != nil || string(got) != "precious" {
		t.Fatalf("sentinel now %q, %v", got, err)
	}
	fi, err := os.Lstat(sentinel)
	if err != nil || fi.Mode().Perm() != 0o640 || !fi.ModTime().Equal(sfi.ModTime()) {
		t.Fatalf("sentinel metadata changed: %v %v", fi.Mode(), err)
	}
	ents, err := os.ReadDir(outside)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"sentinel.txt"}) {
		t.Fatalf("outside the root now holds %v", names)
	}
	if _, err := os.Lstat(filepath.Join(ts.root, "stolen")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("sentinel was moved into the root: %v", err)
	}
	// The connection still works for honest requests.
	m, err := rawCall(t, c, control.Stat{Path: "sub/x"})
	if err != nil || m.(control.EntryMsg).Entry.Size != 1 {
		t.Fatalf("honest Stat after the attacks: %v %v", m, err)
	}
}

func TestMalformedRequestIsRefusedAndConnectionSurvives(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.hello(t, "")
	_, _, err := c.OpenChannel(control.ChannelType, []byte{0, 0, 0, 3, 0xee, 1, 2})
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || oce.Reason != ssh.Prohibited {
		t.Fatalf("garbage request: %v, want a refused channel", err)
	}
	if _, _, err := c.OpenChannel("session", nil); err == nil {
		t.Fatal("a shell session channel was accepted")
	}
	if _, err := rawCall(t, c, control.FreeSpace{}); err != nil {
		t.Fatalf("FreeSpace after garbage: %v", err)
	}
	if _, err := rawCall(t, c, control.OK{}); !errors.Is(err, control.ErrProtocol) {
		t.Fatalf("a response sent as a request: %v, want ErrProtocol", err)
	}
	if _, err := rawCall(t, c, control.Hello{Version: control.Version}); !errors.Is(err, control.ErrProtocol) {
		t.Fatalf("second Hello: %v, want ErrProtocol", err)
	}
	if _, err := rawCall(t, c, control.Remove{Path: "nothing-here", Expect: tree.Entry{Path: "nothing-here", Kind: tree.File}}); !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, endpoint.ErrChanged) {
		t.Fatalf("Remove of a missing file: %v", err)
	}
}

func TestDataSessionRefusesHostileListsAndNeedsUDP(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.hello(t, "")
	// Without a UDP port there is no data session, whatever is asked.
	if _, err := rawCall(t, c, control.DataSession{Download: true}); !errors.Is(err, control.ErrUnavailable) {
		t.Fatalf("data session without UDP: %v, want ErrUnavailable", err)
	}

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tu := startServer(t, func(c *Config) { c.UDPConn = pc })
	cu := tu.hello(t, "")
	for _, p := range []string{"../x", "/etc/passwd", "a\x00b"} {
		ch, reqs, err := cu.OpenChannel(control.ChannelType, control.Append(nil, control.DataSession{Download: true}))
		if err != nil {
			t.Fatal(err)
		}
		go ssh.DiscardRequests(reqs)
		ch.Write(control.Append(nil, control.Entries{Entries: []tree.Entry{{Path: p, Kind: tree.File, Size: 1}}}))
		ch.Write(control.Append(nil, control.OK{}))
		m, _, err := control.ReadFrame(ch, nil)
		ch.Close()
		if err != nil {
			t.Fatal(err)
		}
		e, ok := m.(control.Error)
		if !ok || !errors.Is(e.Err(), tree.ErrInvalidPath) {
			t.Fatalf("data session listing %q: answered %#v, want ErrInvalidPath", p, m)
		}
	}
	// A session id and key are fresh every time.
	var ids, keys [][]byte
	for range 2 {
		ch, reqs, err := cu.OpenChannel(control.ChannelType, control.Append(nil, control.DataSession{}))
		if err != nil {
			t.Fatal(err)
		}
		go ssh.DiscardRequests(reqs)
		ch.Write(control.Append(nil, control.OK{}))
		m, _, err := control.ReadFrame(ch, nil)
		ch.Close()
		if err != nil {
			t.Fatal(err)
		}
		ok, isOK := m.(control.SessionOK)
		if !isOK || len(ok.Key) != 32 || len(ok.ID) != wire.SessionIDLen || int(ok.Port) != pc.LocalAddr().(*net.UDPAddr).Port {
			t.Fatalf("session answer %#v", m)
		}
		ids, keys = append(ids, ok.ID), append(keys, ok.Key)
	}
	if string(ids[0]) == string(ids[1]) || string(keys[0]) == string(keys[1]) {
		t.Fatal("two data sessions got the same id or key")
	}
}

// TestDataSessionWithoutList: an upload of new files only (NoEntries)
// gets its SessionOK without sending a list or OK, which is what saves
// the first sync a round trip; NoEntries on anything else is refused.
func TestDataSessionWithoutList(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tu := startServer(t, func(c *Config) { c.UDPConn = pc })
	cu := tu.hello(t, "")
	type answer struct {
		m   control.Msg
		err error
	}
	got := make(chan answer, 1)
	go func() {
		m, err := rawCall(t, cu, control.DataSession{AbsentUnlisted: true, NoEntries: true})
		got <- answer{m, err}
	}()
	var m control.Msg
	select {
	case a := <-got:
		m, err = a.m, a.err
	case <-time.After(10 * time.Second):
		t.Fatal("no answer to an upload without a list: the server is still waiting for one")
	}
	if err != nil {
		t.Fatalf("upload without a list: %v", err)
	}
	if ok, isOK := m.(control.SessionOK); !isOK || len(ok.ID) != wire.SessionIDLen {
		t.Fatalf("upload without a list answered %#v, want SessionOK before anything else was sent", m)
	}
	for _, bad := range []control.DataSession{{Download: true, NoEntries: true}, {NoEntries: true}} {
		if _, err := rawCall(t, cu, bad); !errors.Is(err, control.ErrProtocol) {
			t.Fatalf("%+v: %v, want ErrProtocol", bad, err)
		}
	}
}
