package server

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/internal/cputime"
	"github.com/ferry-sync/ferry/transport/cc"
	"github.com/ferry-sync/ferry/transport/data"
	"github.com/ferry-sync/ferry/transport/wire"
	"github.com/ferry-sync/ferry/tree"
)

type memReader struct{ *bytes.Reader }

func (memReader) Close() error { return nil }

// discardWriter keeps nothing; the session checks nothing beyond Commit.
type discardWriter struct{}

func (discardWriter) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }
func (discardWriter) Commit() error                          { return nil }
func (discardWriter) Abort() error                           { return nil }

// BenchmarkMuxReceive sends one 64 MiB file per iteration over loopback to
// a receiving session behind the server's shared-socket mux, the path of
// every upload to `ferry serve`, as fast as it goes (fixed 20 Gbit/s), and
// reports the rate and the wall and CPU (both ends, user+system) time per
// packet. The writer discards, so no disk is
// measured.
func BenchmarkMuxReceive(b *testing.B) {
	r := rand.New(rand.NewPCG(9, 9))
	content := make([]byte, 64<<20)
	for i := range content {
		content[i] = byte(r.Uint32())
	}
	log := slog.New(slog.DiscardHandler)
	srvConn, err := data.Listen("udp4", "127.0.0.1:0", log)
	if err != nil {
		b.Fatal(err)
	}
	defer srvConn.Close()
	cliConn, err := data.Listen("udp4", "127.0.0.1:0", log)
	if err != nil {
		b.Fatal(err)
	}
	defer cliConn.Close()
	mux := newMux(srvConn, log)
	go mux.serve()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(r.Uint32())
	}
	sum := xxhash.Sum64(content)
	var pkts uint64
	var el time.Duration
	b.SetBytes(int64(len(content)))
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := cputime.Used()
	b.ResetTimer()
	for i := range b.N {
		id := wire.SessionID{byte(i), byte(i >> 8), 1}
		sc := registerID(b, mux, id)
		cfg := data.Config{Key: key, Session: id, Log: log, NoUDPTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second}
		scfg := cfg
		scfg.Peer = srvConn.LocalAddr()
		scfg.Rate = cc.Config{Policy: cc.Fixed, TargetRate: 20e9}
		e := tree.Entry{Path: "f", Kind: tree.File, Size: int64(len(content)), Mode: 0o644, Hash: sum}
		files := []data.SendFile{{Entry: e, Open: func() (endpoint.FileReader, error) { return memReader{bytes.NewReader(content)}, nil }}}
		snd, err := data.NewSender(cliConn, scfg)
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		var results []data.Result
		var rerr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			results, rerr = data.Receive(context.Background(), sc, cfg, func(context.Context, data.FileInfo) (endpoint.FileWriter, error) {
				return discardWriter{}, nil
			})
		}()
		start := time.Now()
		errs, serr := snd.Run(context.Background(), files)
		wg.Wait()
		el += time.Since(start)
		sc.Close()
		if serr != nil || errs[0] != nil || rerr != nil || len(results) != 1 || results[0].Err != nil {
			b.Fatalf("session: send %v %v, receive %v %v", serr, errs, rerr, results)
		}
		pkts += snd.Stats().PacketsSent
	}
	b.ReportMetric(float64(len(content))*8*float64(b.N)/el.Seconds()/1e6, "Mbit/s")
	b.ReportMetric(float64(el.Nanoseconds())/float64(pkts), "ns/packet")
	b.ReportMetric(float64((cputime.Used()-cpu0).Nanoseconds())/float64(pkts), "cpu-ns/packet")
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(pkts), "allocs/packet")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(pkts), "B/packet")
}
