package data

import (
	"bytes"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/ferry-sync/ferry/transport/seal"
	"github.com/ferry-sync/ferry/transport/wire"
)

// TestLinkBatchesKeepDatagrams sends runs of equal and unequal packet sizes
// through the link's batched (and, where the kernel has it, segmented)
// writes and checks that every packet arrives as its own datagram, whole
// and in order.
func TestLinkBatchesKeepDatagrams(t *testing.T) {
	for _, noGSO := range []bool{false, true} {
		r := rand.New(rand.NewPCG(testSeed(t), 7))
		cfg, err := testConfig(r).withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		sc, rc := udpPair(t)
		cfg.Peer, cfg.NoGSO = rc.LocalAddr(), noGSO
		sbox, err := seal.New(cfg.Key, cfg.Session, seal.Sender)
		if err != nil {
			t.Fatal(err)
		}
		rbox, err := seal.New(cfg.Key, cfg.Session, seal.Receiver)
		if err != nil {
			t.Fatal(err)
		}
		l := newLink(sc, sbox, cfg)
		t.Logf("noGSO=%v gso in use=%v", noGSO, l.gso)
		full := ipv4PathMax - wire.HeaderLen - seal.Overhead
		// Runs of full packets broken by short ones, as at file ends and
		// between DATA and control packets; more than one batch in all.
		var sizes []int
		for len(sizes) < 3*batchSize {
			switch r.IntN(4) {
			case 0:
				sizes = append(sizes, 1+r.IntN(full))
			default:
				for range 1 + r.IntN(80) {
					sizes = append(sizes, full)
				}
			}
		}
		// Sent in rounds of two batches, each read before the next goes
		// out: a round fits any socket buffer (rmem_max caps it when not
		// root), so the kernel has no reason to drop one however slow
		// the reader, and every packet is owed.
		const round = 2 * batchSize
		buf := make([]byte, 64<<10)
		for start := 0; start < len(sizes); start += round {
			want := queueRandom(l, r, sizes[start:min(start+round, len(sizes))])
			l.flush()
			if l.sentPkts != uint64(start+len(want)) || l.sendErrs != 0 {
				t.Fatalf("sent %d of %d packets, %d errors", l.sentPkts, start+len(want), l.sendErrs)
			}
			for i, w := range want {
				if err := rc.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
					t.Fatal(err)
				}
				n, _, err := rc.ReadFrom(buf)
				if err != nil {
					t.Fatalf("packet %d of %d: %v", start+i, len(sizes), err)
				}
				_, body, err := rbox.Open(buf[:n])
				if err != nil {
					t.Fatalf("packet %d (%d bytes sent, %d received): %v", start+i, len(w), n, err)
				}
				if !bytes.Equal(body, w) {
					t.Fatalf("packet %d: body of %d bytes differs from the %d sent", start+i, len(body), len(w))
				}
			}
		}
	}
}

// TestPackRuns checks the messages pack builds against the kernel's rules
// for a segmented send: equal sizes but for a shorter last one, at most
// gsoMaxSegs segments and gsoMaxBytes in all; and that they cover every
// packet once, in order.
func TestPackRuns(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 8))
	l := &link{gso: true, msgs: make([]ipv4.Message, batchSize), msgPkts: make([]msgRun, batchSize), oob: make([][32]byte, batchSize)}
	for range 200 {
		var pkts [][]byte
		for range 1 + r.IntN(300) {
			n := 1400
			if r.IntN(5) == 0 {
				n = 1 + r.IntN(1400)
			}
			if r.IntN(50) == 0 {
				n = 1400 + r.IntN(8000)
			}
			pkts = append(pkts, make([]byte, n))
		}
		rest := pkts
		for len(rest) > 0 {
			m := l.pack(rest)
			if m == 0 || m > batchSize {
				t.Fatalf("pack made %d messages", m)
			}
			for i, msg := range l.msgs[:m] {
				bs := msg.Buffers
				if len(bs) == 0 || len(bs) > gsoMaxSegs || l.msgPkts[i].n != len(bs) {
					t.Fatalf("message %d has %d packets (counted %d)", i, len(bs), l.msgPkts[i].n)
				}
				total := 0
				for j, b := range bs {
					if &b[:1][0] != &rest[j][:1][0] {
						t.Fatalf("message %d packet %d is not the next packet", i, j)
					}
					if (j < len(bs)-1 && len(b) != len(bs[0])) || len(b) > len(bs[0]) {
						t.Fatalf("message %d: packet %d is %d bytes in a run of %d", i, j, len(b), len(bs[0]))
					}
					total += len(b)
				}
				if len(bs) > 1 && total > gsoMaxBytes {
					t.Fatalf("message %d carries %d bytes", i, total)
				}
				if total != l.msgPkts[i].bytes || (len(bs) > 1) != (len(msg.OOB) > 0) {
					t.Fatalf("message %d: %d bytes counted %d, oob %d", i, total, l.msgPkts[i].bytes, len(msg.OOB))
				}
				rest = rest[len(bs):]
			}
		}
	}
}

// refusingBatcher takes batched writes but refuses (EIO) any message that
// asks for segmentation, as a route without checksum offload does.
type refusingBatcher struct {
	got     [][]byte
	refused int
}

func (b *refusingBatcher) ReadBatch([]ipv4.Message, int) (int, error) { return 0, syscall.EINVAL }

func (b *refusingBatcher) WriteBatch(ms []ipv4.Message, _ int) (int, error) {
	for i, m := range ms {
		if len(m.OOB) > 0 {
			if i == 0 {
				b.refused++
				return 0, syscall.EIO
			}
			return i, nil
		}
		for _, p := range m.Buffers {
			b.got = append(b.got, append([]byte(nil), p...))
		}
	}
	return len(ms), nil
}

// TestLinkFallsBackWhenSegmentationRefused: a refused segmented send turns
// segmentation off and the same packets go one per message, none lost or
// repeated.
func TestLinkFallsBackWhenSegmentationRefused(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 9))
	cfg, err := testConfig(r).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	sc, rc := udpPair(t)
	cfg.Peer = rc.LocalAddr()
	box, err := seal.New(cfg.Key, cfg.Session, seal.Sender)
	if err != nil {
		t.Fatal(err)
	}
	l := newLink(sc, box, cfg)
	fake := &refusingBatcher{}
	l.batch, l.gso = fake, true
	full := ipv4PathMax - wire.HeaderLen - seal.Overhead
	// One short packet first, so the refusal comes after a message that
	// went out.
	sizes := []int{10}
	for range 100 {
		sizes = append(sizes, full)
	}
	want := queueRandom(l, r, sizes)
	l.flush()
	if l.gso || fake.refused != 1 {
		t.Fatalf("gso still %v after %d refusals", l.gso, fake.refused)
	}
	if len(fake.got) != len(want) || l.sentPkts != uint64(len(want)) {
		t.Fatalf("%d packets written, %d counted, want %d", len(fake.got), l.sentPkts, len(want))
	}
	for i, w := range want {
		_, body, err := openAs(t, cfg, fake.got[i])
		if err != nil || !bytes.Equal(body, w) {
			t.Fatalf("packet %d: %v, body differs: %v", i, err, !bytes.Equal(body, w))
		}
	}
}

func openAs(t *testing.T, cfg Config, pkt []byte) (wire.Header, []byte, error) {
	t.Helper()
	rbox, err := seal.New(cfg.Key, cfg.Session, seal.Receiver)
	if err != nil {
		t.Fatal(err)
	}
	return rbox.Open(pkt)
}

// queueRandom queues a DATA packet of random bytes for each size and
// returns the payloads in order.
func queueRandom(l *link, r *rand.Rand, sizes []int) [][]byte {
	var want [][]byte
	for _, n := range sizes {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		l.queue(wire.TypeData, func(p []byte) []byte { return append(p, b...) })
		want = append(want, b)
	}
	return want
}
