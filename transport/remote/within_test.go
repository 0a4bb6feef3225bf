package remote_test

import (
	"context"
	"net"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/transport/remote"
	"github.com/ferry-sync/ferry/tree"
)

// TestScanWithinFallsBackForAnOldServer: a server older than the Scan
// request's Within field cannot parse a request that carries it and
// refuses it as malformed (ssh.Prohibited), as ferry serve refuses any
// request it cannot parse. The client then asks again without it (the
// hint is optional: the server lists everything) and sends it no more.
func TestScanWithinFallsBackForAnOldServer(t *testing.T) {
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
	listing := []tree.Entry{{Path: "a", Kind: tree.Dir, Mode: 0o755}, {Path: "a/b", Kind: tree.File, Size: 1, Mode: 0o644, Hash: 7}, {Path: "c", Kind: tree.File, Size: 1, Mode: 0o644, Hash: 9}}
	var mu sync.Mutex
	var refused, scans int
	done := make(chan struct{})
	go func() {
		defer close(done)
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
			if s, ok := m.(control.Scan); err != nil || ok && len(s.Within) > 0 {
				// What a version 7 server does with a field it does not know.
				mu.Lock()
				refused++
				mu.Unlock()
				newCh.Reject(ssh.Prohibited, "malformed request: trailing bytes")
				continue
			}
			ch, rq, err := newCh.Accept()
			if err != nil {
				continue
			}
			go ssh.DiscardRequests(rq)
			switch m.(type) {
			case control.Hello:
				control.WriteFrame(ch, nil, control.Welcome{Version: control.Version, User: "tester"})
			case control.Scan:
				mu.Lock()
				scans++
				mu.Unlock()
				control.WriteFrame(ch, nil, control.Entries{Entries: listing})
				control.WriteFrame(ch, nil, control.OK{})
			default:
				control.WriteFrame(ch, nil, control.ErrorOf(endpoint.ErrNoSpace))
			}
			ch.Close()
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
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 2 {
		var got []tree.Entry
		err := ep.Scan(ctx, endpoint.ScanOptions{Within: []string{"a/b"}}, func(e tree.Entry) error {
			got = append(got, e)
			return nil
		})
		if err != nil {
			t.Fatalf("scan %d within a/b from an old server: %v", i, err)
		}
		if !reflect.DeepEqual(got, listing) {
			t.Fatalf("scan %d: %+v, want the whole listing %+v", i, got, listing)
		}
	}
	ep.Close()
	<-done
	if refused != 1 || scans != 2 {
		t.Fatalf("the old server refused %d scans and answered %d; want 1 refused (the first, with Within) and 2 answered", refused, scans)
	}
}
