package server

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/cc"
	"github.com/ferry-sync/ferry/transport/data"
	"github.com/ferry-sync/ferry/transport/lossy"
	"github.com/ferry-sync/ferry/transport/wire"
	"github.com/ferry-sync/ferry/tree"
)

var muxSeed = flag.Uint64("mux-seed", 0, "seed of TestMuxLossyPathKeepsEveryByte (0: from the clock)")

// memFile collects what the receiver writes.
type memFile struct {
	mu        sync.Mutex
	b         []byte
	committed bool
}

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	copy(m.b[off:], p)
	return len(p), nil
}
func (m *memFile) Commit() error { m.mu.Lock(); m.committed = true; m.mu.Unlock(); return nil }
func (m *memFile) Abort() error  { return nil }

// TestMuxLossyPathKeepsEveryByte: files sent to a session behind the mux
// over a path that drops, duplicates and reorders arrive byte for byte.
// The mux's datagrams and the receiver's packet bodies are pooled buffers
// the session gives back once done with a packet (a duplicate at once, a
// DATA payload after the disk writer wrote it): a buffer given back too
// early would be overwritten by a later datagram before it is written.
func TestMuxLossyPathKeepsEveryByte(t *testing.T) {
	seed := *muxSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -mux-seed=%d)", seed, seed)
	g := newMuxRig(t)
	id := wire.SessionID{7, 7, 7}
	sc := registerID(t, g.mux, id)
	defer sc.Close()
	cfg := data.Config{Key: g.key, Session: id, Log: g.log, NoUDPTimeout: 10 * time.Second, IdleTimeout: 10 * time.Second}
	scfg := cfg
	scfg.Peer = g.srvConn.LocalAddr()
	scfg.Rate = cc.Config{Policy: cc.Fixed, TargetRate: 200e6}
	cli := lossy.Wrap(g.cliConn, lossy.Config{Loss: 0.03, Duplicate: 0.05, Reorder: 0.05, Seed: int64(seed)})
	var files []data.SendFile
	want := map[string][]byte{}
	for i, size := range []int{0, 1, 1300, 1500, 9000, 64 << 10, 1 << 20, 3 << 20} {
		content := randomContent(seed+uint64(i), size)
		path := fmt.Sprintf("f%d", i)
		want[path] = content
		e := tree.Entry{Path: path, Kind: tree.File, Size: int64(size), Mode: 0o644, Hash: xxhash.Sum64(content)}
		files = append(files, data.SendFile{Entry: e, Open: func() (endpoint.FileReader, error) { return memReader{bytes.NewReader(content)}, nil }})
	}
	// Bounded: a corrupted file is sent again after its hash check fails,
	// which would otherwise go on.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	snd, err := data.NewSender(cli, scfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]*memFile{}
	var wg sync.WaitGroup
	var results []data.Result
	var rerr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		results, rerr = data.Receive(ctx, sc, cfg, func(_ context.Context, fi data.FileInfo) (endpoint.FileWriter, error) {
			mu.Lock()
			defer mu.Unlock()
			m := &memFile{}
			got[fi.Path] = m
			return m, nil
		})
	}()
	errs, serr := snd.Run(ctx, files)
	wg.Wait()
	if serr != nil || rerr != nil {
		t.Fatalf("session: send %v, receive %v", serr, rerr)
	}
	for i, e := range errs {
		if e != nil {
			t.Fatalf("file %d: %v", i, e)
		}
	}
	if len(results) != len(files) {
		t.Fatalf("%d results, want %d", len(results), len(files))
	}
	for path, w := range want {
		m := got[path]
		if m == nil || !m.committed || !bytes.Equal(m.b, w) {
			t.Fatalf("%s: not received whole (%v)", path, m != nil && m.committed)
		}
	}
	if lc, ok := cli.(*lossy.Conn); ok {
		if st := lc.Stats(); st.Dropped == 0 || st.Duplicated == 0 {
			t.Fatalf("the path did nothing: %+v", st)
		}
	}
}
