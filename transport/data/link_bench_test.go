package data

import (
	"errors"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/ferry-sync/ferry/transport/seal"
	"github.com/ferry-sync/ferry/transport/wire"
)

// drain reads rc in batches until it is closed and returns how many
// datagrams and bytes arrived.
func drain(rc *net.UDPConn) <-chan [2]uint64 {
	out := make(chan [2]uint64, 1)
	go func() {
		pc := ipv4.NewPacketConn(rc)
		ms := make([]ipv4.Message, 64)
		for i := range ms {
			ms[i].Buffers = [][]byte{make([]byte, 64<<10)}
		}
		var pkts, bytes uint64
		for {
			n, err := pc.ReadBatch(ms, 0)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				break
			}
			for _, m := range ms[:n] {
				pkts++
				bytes += uint64(m.N)
			}
		}
		out <- [2]uint64{pkts, bytes}
	}()
	return out
}

// BenchmarkLinkSend seals and sends full-size DATA packets through the
// link's batched writes over loopback (the kernel's receive path on
// loopback runs in the sender's syscall, so this is both ends' kernel
// cost), and reports the cost per packet.
func BenchmarkLinkSend(b *testing.B) { benchLinkSend(b, false) }

func benchLinkSend(b *testing.B, noGSO bool) {
	r := rand.New(rand.NewPCG(5, 6))
	cfg, err := testConfig(r).withDefaults()
	if err != nil {
		b.Fatal(err)
	}
	sc, rc := udpPair(b)
	cfg.Peer = rc.LocalAddr()
	cfg.NoGSO = noGSO
	box, err := seal.New(cfg.Key, cfg.Session, seal.Sender)
	if err != nil {
		b.Fatal(err)
	}
	l := newLink(sc, box, cfg)
	got := drain(rc)
	payload := make([]byte, ipv4PathMax-wire.HeaderLen-seal.Overhead)
	for i := range payload {
		payload[i] = byte(r.Uint32())
	}
	body := func(p []byte) []byte { return append(p, payload...) }
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		l.queue(wire.TypeData, body)
	}
	l.flush()
	el := time.Since(start)
	b.StopTimer()
	_ = rc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	res := <-got
	if l.sentPkts != uint64(b.N) {
		b.Fatalf("sent %d of %d packets", l.sentPkts, b.N)
	}
	b.ReportMetric(float64(el.Nanoseconds())/float64(b.N), "ns/packet")
	b.ReportMetric(float64(l.sentBytes*8)/el.Seconds()/1e6, "Mbit/s")
	b.ReportMetric(float64(res[0])/float64(b.N), "delivered/sent")
}

func BenchmarkLinkSendNoGSO(b *testing.B) { benchLinkSend(b, true) }
