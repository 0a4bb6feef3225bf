package remote_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/remote"
	"github.com/ferry-sync/ferry/transport/server"
	"github.com/ferry-sync/ferry/tree"
)

// Four sessions, files from 1 MiB split across them: a tree of big and
// small files goes up and comes back byte-exact, progress adds up, the
// figures are of four sessions, and the server ran four lanes each way.
func TestFourSessionsSplitFilesBothWays(t *testing.T) {
	r := rng(t)
	e := newEnvUDP(t, true, nil)
	ep := e.mustDial(func(o *remote.Options) {
		o.Transport = config.UDP
		o.Sessions = 4
		o.MultiSessionThreshold = 1 << 20
	})
	src := t.TempDir()
	contents := map[string][]byte{}
	var items []endpoint.Transfer
	var total int64
	for i, n := range []int{5<<20 + 12345, 3 << 20, 1 << 20, 2<<20 - 1, 700_000, 4096, 10, 0, 123_456} {
		p := fmt.Sprintf("d%d/f%d.bin", i%2, i)
		c := randomBytes(r, n)
		contents[p] = c
		items = append(items, endpoint.Transfer{Source: fileEntry(t, src, p, c)})
		total += int64(n)
	}
	for _, d := range []string{"d0", "d1"} {
		if err := ep.Mkdir(context.Background(), d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var moved atomic.Int64
	noErrors(t, ep.Upload(context.Background(), items, local(t, src), func(_ string, d int64, _ bool) { moved.Add(d) }))
	for _, it := range items {
		mustEqualFile(t, filepath.Join(e.root, it.Source.Path), contents[it.Source.Path], it.Source.Mtime)
	}
	if moved.Load() != total {
		t.Errorf("upload progress reported %d bytes of %d", moved.Load(), total)
	}
	st, ok := ep.DataStats()
	if !ok || st.Sessions != 4 {
		t.Fatalf("upload figures: %v sessions (ok %v), want 4", st.Sessions, ok)
	}
	if st.PayloadBytes != uint64(total) {
		t.Errorf("the four sessions sent %d new payload bytes, want the tree's %d once", st.PayloadBytes, total)
	}

	dst := t.TempDir()
	for _, d := range []string{"d0", "d1"} {
		if err := os.Mkdir(filepath.Join(dst, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var down []endpoint.Transfer
	if err := ep.Scan(context.Background(), endpoint.ScanOptions{}, func(en tree.Entry) error {
		if en.Kind == tree.File {
			down = append(down, endpoint.Transfer{Source: en})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	moved.Store(0)
	noErrors(t, ep.Download(context.Background(), down, local(t, dst), func(_ string, d int64, _ bool) { moved.Add(d) }))
	for _, it := range down {
		mustEqualFile(t, filepath.Join(dst, it.Source.Path), contents[it.Source.Path], it.Source.Mtime)
	}
	if moved.Load() != total {
		t.Errorf("download progress reported %d bytes of %d", moved.Load(), total)
	}
	if st, ok := ep.DataStats(); !ok || st.Sessions != 4 || st.PayloadBytes != uint64(total) {
		t.Errorf("download figures: %d sessions, %d payload bytes (ok %v); want 4 and %d", st.Sessions, st.PayloadBytes, ok, total)
	}
	log := e.log.String()
	for _, dir := range []string{"upload", "download"} {
		for lane := range 4 {
			if !strings.Contains(log, fmt.Sprintf("lane=%d lanes=4", lane)) || !strings.Contains(log, "direction="+dir) {
				t.Errorf("server log has no %s session for lane %d of 4", dir, lane)
			}
		}
	}
}

// The caps hold for the sum of the sessions: 8 MiB over four sessions
// under a 32 Mbit/s upload cap (4 MB/s) cannot take much less than 2 s.
// Only a lower bound is checked, which a slow machine cannot break; each
// session on its own at the whole cap would take 0.5 s.
func TestFourSessionsKeepToTheJobsCap(t *testing.T) {
	r := rng(t)
	e := newEnvUDP(t, true, nil)
	ep := e.mustDial(func(o *remote.Options) {
		o.Transport = config.UDP
		o.Sessions = 4
		o.MultiSessionThreshold = 1 << 20
		o.Bandwidth.Upload = 32_000_000
		o.Bandwidth.Policy = config.Fixed
		o.Bandwidth.TargetRate = 32_000_000
	})
	src := t.TempDir()
	content := randomBytes(r, 8<<20)
	item := endpoint.Transfer{Source: fileEntry(t, src, "big.bin", content)}
	// While it runs, the live figures are the transfer's, not one
	// session's quarter of it.
	done := make(chan struct{})
	targets := make(chan float64, 1)
	go func() {
		var most float64
		defer func() { targets <- most }()
		for {
			if l, ok := ep.Link(false); ok {
				most = max(most, l.Target)
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond): // polling a live view
			}
		}
	}()
	start := time.Now()
	noErrors(t, ep.Upload(context.Background(), []endpoint.Transfer{item}, local(t, src), nil))
	took := time.Since(start)
	close(done)
	if most := <-targets; most != 32_000_000 {
		t.Errorf("the live target rate of four sessions under a 32 Mbit/s target peaked at %v, want 32e6", most)
	}
	mustEqualFile(t, filepath.Join(e.root, "big.bin"), content, item.Source.Mtime)
	st, _ := ep.DataStats()
	t.Logf("8 MiB over %d sessions at a 32 Mbit/s cap: %v", st.Sessions, took)
	if st.Sessions != 4 {
		t.Fatalf("%d sessions ran, want 4", st.Sessions)
	}
	if took < 1600*time.Millisecond {
		t.Fatalf("four sessions under a 32 Mbit/s cap moved 8 MiB in %v: faster than the cap allows (2.1 s)", took)
	}
}

// A split upload canceled midway resumes the ranges its sessions wrote:
// the next upload over four sessions sends less than the file.
func TestCanceledSplitUploadResumesItsRanges(t *testing.T) {
	r := rng(t)
	e := newEnvUDP(t, true, nil)
	opts := func(capped bool) func(o *remote.Options) {
		return func(o *remote.Options) {
			o.Transport = config.UDP
			o.Sessions = 4
			o.MultiSessionThreshold = 1 << 20
			if capped {
				o.Bandwidth.Upload = 32_000_000
			}
		}
	}
	ep := e.mustDial(opts(true))
	src := t.TempDir()
	const size = 16 << 20
	content := randomBytes(r, size)
	item := endpoint.Transfer{Source: fileEntry(t, src, "big.bin", content)}
	ctx, cancel := context.WithCancel(context.Background())
	ckpt := filepath.Join(e.root, "big.bin.partial.ferry-ckpt")
	go func() {
		defer cancel()
		for range 600 {
			if checkpointed(ckpt) >= size/2 || ctx.Err() != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	errs := ep.Upload(ctx, []endpoint.Transfer{item}, local(t, src), nil)
	cancel()
	if errs[0] == nil {
		t.Fatal("the upload finished before it was canceled")
	}
	ep.Close()
	ep2 := e.mustDial(opts(false))
	var sent, reused atomic.Int64
	for i := 0; ; i++ {
		errs = ep2.Upload(context.Background(), []endpoint.Transfer{item}, local(t, src), func(_ string, d int64, re bool) {
			if re {
				reused.Add(d)
			} else {
				sent.Add(d)
			}
		})
		if errs[0] == nil || i == 20 {
			break
		}
		t.Logf("attempt %d: %v", i, errs[0])
		time.Sleep(200 * time.Millisecond) // the server lets go of the canceled sessions' partial
	}
	noErrors(t, errs)
	mustEqualFile(t, filepath.Join(e.root, "big.bin"), content, item.Source.Mtime)
	st, _ := ep2.DataStats()
	t.Logf("resumed upload: sent %d, reused %d, stats resumed %d payload %d", sent.Load(), reused.Load(), st.ResumedBytes, st.PayloadBytes)
	if st.ResumedBytes == 0 || st.PayloadBytes >= size {
		t.Fatalf("the resumed upload sent %d payload bytes of %d and resumed %d: the ranges written before were sent again", st.PayloadBytes, size, st.ResumedBytes)
	}
}

// checkpointed is how many bytes a data-session checkpoint (data's FCK1
// format: magic, size, hash, count, then ranges) at path says were
// written; 0 if there is none.
func checkpointed(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 24 || string(b[:4]) != "FCK1" {
		return 0
	}
	n := int(binary.BigEndian.Uint32(b[20:]))
	var total int64
	for i := 0; i < n && 24+16*(i+1) <= len(b); i++ {
		lo := int64(binary.BigEndian.Uint64(b[24+16*i:]))
		hi := int64(binary.BigEndian.Uint64(b[32+16*i:]))
		total += hi - lo
	}
	return total
}

// The server's cap holds for a client's sessions together (ferry serve
// divides it among every session running under it): 8 MiB over four
// sessions under a 32 Mbit/s total cannot take much less than 2 s either
// way, where each session at the whole cap would take 0.5 s.
func TestFourSessionsKeepToTheServersCap(t *testing.T) {
	r := rng(t)
	e := newEnvUDP(t, true, func(c *server.Config) { c.TotalRate = 32_000_000 })
	ep := e.mustDial(func(o *remote.Options) {
		o.Transport = config.UDP
		o.Sessions = 4
		o.MultiSessionThreshold = 1 << 20
	})
	src := t.TempDir()
	content := randomBytes(r, 8<<20)
	item := endpoint.Transfer{Source: fileEntry(t, src, "big.bin", content)}
	start := time.Now()
	noErrors(t, ep.Upload(context.Background(), []endpoint.Transfer{item}, local(t, src), nil))
	up := time.Since(start)
	mustEqualFile(t, filepath.Join(e.root, "big.bin"), content, item.Source.Mtime)
	dst := t.TempDir()
	start = time.Now()
	noErrors(t, ep.Download(context.Background(), []endpoint.Transfer{item}, local(t, dst), nil))
	down := time.Since(start)
	mustEqualFile(t, filepath.Join(dst, "big.bin"), content, item.Source.Mtime)
	st, _ := ep.DataStats()
	t.Logf("8 MiB over %d sessions under a 32 Mbit/s server cap: upload %v, download %v", st.Sessions, up, down)
	if st.Sessions != 4 {
		t.Fatalf("%d sessions ran, want 4", st.Sessions)
	}
	if up < 1600*time.Millisecond || down < 1600*time.Millisecond {
		t.Fatalf("four sessions under the server's 32 Mbit/s cap: upload %v, download %v for 8 MiB (2.1 s at the cap)", up, down)
	}
}

// The senders of a transfer over four sessions each take themselves for
// a quarter of one flow (cc.Config.Share), so that together they keep one
// flow's queue: the client's on an upload (whose summed figures then say
// one flow, where four whole flows said 4), ferry serve's on a download
// (its log names each lane's share).
func TestFourSessionsAreOneFlow(t *testing.T) {
	r := rng(t)
	e := newEnvUDP(t, true, nil)
	ep := e.mustDial(func(o *remote.Options) {
		o.Transport = config.UDP
		o.Sessions = 4
		o.MultiSessionThreshold = 1 << 20
	})
	src := t.TempDir()
	content := randomBytes(r, 6<<20)
	item := endpoint.Transfer{Source: fileEntry(t, src, "big.bin", content)}
	noErrors(t, ep.Upload(context.Background(), []endpoint.Transfer{item}, local(t, src), nil))
	mustEqualFile(t, filepath.Join(e.root, "big.bin"), content, item.Source.Mtime)
	st, ok := ep.DataStats()
	if !ok || st.Sessions != 4 {
		t.Fatalf("upload figures: %d sessions (ok %v), want 4", st.Sessions, ok)
	}
	if st.Share < 0.999 || st.Share > 1.001 {
		t.Errorf("the upload's four senders add up to %v flows, want 1", st.Share)
	}

	dst := t.TempDir()
	noErrors(t, ep.Download(context.Background(), []endpoint.Transfer{item}, local(t, dst), nil))
	mustEqualFile(t, filepath.Join(dst, "big.bin"), content, item.Source.Mtime)
	log := e.log.String()
	for lane := range 4 {
		found := false
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, fmt.Sprintf("lane=%d lanes=4", lane)) && strings.Contains(line, "direction=download") {
				found = true
				if !strings.Contains(line, "share=0.25") {
					t.Errorf("ferry serve's sender of download lane %d is not a quarter of the transfer: %s", lane, line)
				}
			}
		}
		if !found {
			t.Errorf("server log has no download session for lane %d of 4", lane)
		}
	}
}
