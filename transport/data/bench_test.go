package data

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/internal/cputime"
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

// BenchmarkLoopbackPaced moves one 64 MiB file per iteration over 127.0.0.1
// at a fixed 600 Mbit/s, below what the machine can do, so the pacer holds
// the sender back as on a real link, and reports the CPU (both ends, user
// and system) spent per packet and how many packets each send carried.
func BenchmarkLoopbackPaced(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	src, order := randomFiles(r, []int{64 << 20})
	sc, rc := udpPair(b)
	var pkts uint64
	var el time.Duration
	cpu0 := cputime.Used()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cfg := testConfig(r)
		cfg.Log = nil
		cfg.Rate = cc.Config{Policy: cc.Fixed, TargetRate: 600e6}
		st := newStore()
		start := time.Now()
		out := runSession(b, context.Background(), cfg, sc, rc, sendFiles(src, order), st)
		el += time.Since(start)
		if out.sendErr != nil || out.sendErrs[0] != nil {
			b.Fatalf("session: %v %v", out.sendErr, out.sendErrs)
		}
		pkts += out.snd.PacketsSent
	}
	b.ReportMetric(float64(b.N)*float64(64<<20)*8/el.Seconds()/1e6, "Mbit/s")
	b.ReportMetric(float64((cputime.Used()-cpu0).Nanoseconds())/float64(pkts), "cpu-ns/packet")
}
