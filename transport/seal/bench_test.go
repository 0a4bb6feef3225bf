package seal

import (
	"testing"

	"github.com/ferry-sync/ferry/transport/wire"
)

const benchBody = 1400 - wire.HeaderLen - Overhead

// BenchmarkSeal seals full-size packets in place, as the sender's link does.
func BenchmarkSeal(b *testing.B) {
	box, err := New(make([]byte, KeyLen), wire.SessionID{1}, Sender)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1500)
	body := make([]byte, benchBody)
	b.ReportAllocs()
	b.SetBytes(benchBody)
	for b.Loop() {
		pkt := append(box.Next(wire.TypeData).Append(buf[:0]), body...)
		if _, err := box.Seal(pkt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
}

// BenchmarkOpen opens full-size packets in place, as the receiver's reader
// does.
func BenchmarkOpen(b *testing.B) {
	snd, err := New(make([]byte, KeyLen), wire.SessionID{1}, Sender)
	if err != nil {
		b.Fatal(err)
	}
	rcv, err := New(make([]byte, KeyLen), wire.SessionID{1}, Receiver)
	if err != nil {
		b.Fatal(err)
	}
	const n = 4096
	pkts := make([][]byte, n)
	for i := range pkts {
		p, err := snd.Seal(append(snd.Next(wire.TypeData).Append(make([]byte, 0, 1500)), make([]byte, benchBody)...))
		if err != nil {
			b.Fatal(err)
		}
		pkts[i] = p
	}
	work := make([]byte, 1500)
	b.ReportAllocs()
	b.SetBytes(benchBody)
	i := 0
	for b.Loop() {
		if i == n {
			// Fresh numbers: the replay window refuses a packet twice.
			b.StopTimer()
			for j := range pkts {
				p, err := snd.Seal(append(snd.Next(wire.TypeData).Append(pkts[j][:0]), make([]byte, benchBody)...))
				if err != nil {
					b.Fatal(err)
				}
				pkts[j] = p
			}
			i = 0
			b.StartTimer()
		}
		p := work[:copy(work, pkts[i])]
		i++
		if _, _, err := rcv.Open(p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
}
