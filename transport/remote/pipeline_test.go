package remote_test

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/transport/remote"
)

// TestFirstRequestLeavesBehindTheHello: the first request is sent right
// behind the Hello, not a round trip later once the Welcome is in. The
// server here holds the Welcome back until it has seen the request's
// channel, so a client that waits for the Welcome gets no answer.
func TestFirstRequestLeavesBehindTheHello(t *testing.T) {
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
	pipelined := make(chan bool, 1)
	go func() {
		defer close(pipelined) // a server that gave up reads as false
		nc, err := ln.Accept()
		if err != nil {
			t.Error(err)
			return
		}
		defer nc.Close()
		_, chans, reqs, err := ssh.NewServerConn(nc, cfg)
		if err != nil {
			t.Error(err)
			return
		}
		go ssh.DiscardRequests(reqs)
		accept := func(newCh ssh.NewChannel) (ssh.Channel, control.Msg) {
			ch, rq, err := newCh.Accept()
			if err != nil {
				return nil, nil
			}
			go ssh.DiscardRequests(rq)
			m, _, _ := control.Parse(newCh.ExtraData())
			return ch, m
		}
		// Both channels must arrive before any answer; their order is up
		// to the client's goroutines (ferry serve waits for the Hello).
		var hello, req ssh.Channel
		for range 2 {
			select {
			case newCh := <-chans:
				ch, m := accept(newCh)
				switch m.(type) {
				case control.Hello:
					hello = ch
				case control.FreeSpace:
					req = ch
				default:
					t.Errorf("request %T, want Hello and FreeSpace", m)
					return
				}
			case <-time.After(5 * time.Second):
				pipelined <- false
				return
			}
		}
		pipelined <- true
		control.WriteFrame(hello, nil, control.Welcome{Version: control.Version, User: "tester"})
		hello.Close()
		control.WriteFrame(req, nil, control.Space{Free: 7, Total: 9})
		req.Close()
		for range chans {
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
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sp, err := ep.FreeSpace(ctx)
	if !<-pipelined {
		t.Fatal("the first request waited for the Welcome: one round trip lost on every connect")
	}
	if err != nil || sp.Free != 7 || sp.Total != 9 {
		t.Fatalf("FreeSpace = %+v, %v", sp, err)
	}
}

// TestRequestBehindARefusedHelloReportsTheHello: a request sent behind a
// Hello the server refuses fails with the Hello's reason, not with "no
// folder chosen".
func TestRequestBehindARefusedHelloReportsTheHello(t *testing.T) {
	e := newEnv(t, nil)
	o := e.options()
	o.Path = "no/such/folder"
	ep, err := remote.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = ep.FreeSpace(ctx)
	if err == nil || !strings.Contains(err.Error(), "unable to open remote folder") || strings.Contains(err.Error(), "no folder chosen") {
		t.Fatalf("FreeSpace behind a refused Hello: %v; want the Hello's error", err)
	}
	if err := ep.Connect(ctx); err == nil || !strings.Contains(err.Error(), "/no/such/folder") {
		t.Fatalf("Connect to a missing folder: %v", err)
	}
}
