package data

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/transport/cc"
)

// BenchmarkLoopbackThroughput moves one 64 MiB file per iteration over
// 127.0.0.1 with a fixed 2 Gbit/s rate, through sealing, batching, pacing
// and the in-memory writer.
func BenchmarkLoopbackThroughput(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	src, order := randomFiles(r, []int{64 << 20})
	sc, rc := udpPair(b)
	var bytes, pkts uint64
	var el time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cfg := testConfig(r)
		cfg.Log = nil
		cfg.Rate = cc.Config{Policy: cc.Fixed, TargetRate: 2e9}
		st := newStore()
		start := time.Now()
		out := runSession(b, context.Background(), cfg, sc, rc, sendFiles(src, order), st)
		el += time.Since(start)
		if out.sendErr != nil || out.sendErrs[0] != nil {
			b.Fatalf("session: %v %v", out.sendErr, out.sendErrs)
		}
		bytes += uint64(len(src[order[0]]))
		pkts += out.snd.PacketsSent
	}
	b.ReportMetric(float64(bytes*8)/el.Seconds()/1e6, "Mbit/s")
	b.ReportMetric(float64(el.Nanoseconds())/float64(pkts), "ns/packet")
	b.SetBytes(64 << 20)
}
