package data

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/transport/cc"
)

type stillClock struct{ t time.Time }

func (c *stillClock) Now() time.Time { return c.t }

// TestTailInFlightGoesAgainOnce: once the session has no new data left,
// the data still in flight goes once more, each packet once, instead of
// the link idling while a lost last packet waits for a probe timeout
// and another round trip.
func TestTailInFlightGoesAgainOnce(t *testing.T) {
	rnd := rand.New(rand.NewPCG(testSeed(t), 9))
	clk := &stillClock{t: time.Unix(1_700_000_000, 0)}
	cfg := testConfig(rnd)
	sc, rc := udpPair(t)
	cfg.Peer = rc.LocalAddr()
	cfg.Clock = clk
	snd, err := NewSender(sc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	src, order := randomFiles(rnd, []int{20_000})
	r := &sendRun{
		s: snd, cfg: snd.cfg, clk: clk, ctx: context.Background(),
		l:          newLink(sc, snd.box, snd.cfg),
		byID:       map[uint32]*sfile{},
		pacer:      cc.NewPacer(clk, 0), // unpaced
		ackHandler: newAckHandler(snd.cfg.FeedbackInterval),
	}
	r.start = clk.Now()
	r.scratch = make([]byte, r.l.maxPkt)
	r.sizePath()
	sf := sendFiles(src, order)[0]
	rd, err := sf.Open()
	if err != nil {
		t.Fatal(err)
	}
	f := &sfile{src: sf, r: rd, state: sfSending}
	f.info.Size, f.info.Path = sf.Entry.Size, sf.Entry.Path
	r.files, r.active, r.sending, r.queued, r.remaining = []*sfile{f}, []*sfile{f}, []*sfile{f}, 1, 1
	r.results = make([]error, 1)
	r.byID[f.id] = f

	// The first call sends the file; the link then has nothing new, so
	// what is in flight goes again.
	r.transmit(clk.Now())
	if r.payload != uint64(f.info.Size) {
		t.Fatalf("sent %d new bytes, want the file's %d", r.payload, f.info.Size)
	}
	if r.retrans != uint64(f.info.Size) {
		t.Fatalf("sent %d bytes again at the tail, want every byte in flight (%d) once", r.retrans, f.info.Size)
	}
	// Once only.
	r.transmit(clk.Now())
	if r.retrans != uint64(f.info.Size) {
		t.Fatalf("sent %d bytes again after a second call, want %d: a packet went more than twice", r.retrans, f.info.Size)
	}
	r.l.flush()
}

// TestTailProbeDoesNotBackOff: at the tail a file acknowledged whole and
// still without its result is probed again every PTO, not after the
// doubled wait of its earlier probes (a lost RESULT held the session's
// end for up to 3 s).
func TestTailProbeDoesNotBackOff(t *testing.T) {
	rnd := rand.New(rand.NewPCG(testSeed(t), 10))
	clk := &stillClock{t: time.Unix(1_700_000_000, 0)}
	cfg := testConfig(rnd)
	sc, rc := udpPair(t)
	cfg.Peer = rc.LocalAddr()
	cfg.Clock = clk
	snd, err := NewSender(sc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	src, order := randomFiles(rnd, []int{1000})
	r := &sendRun{
		s: snd, cfg: snd.cfg, clk: clk, ctx: context.Background(),
		l:          newLink(sc, snd.box, snd.cfg),
		byID:       map[uint32]*sfile{},
		pacer:      cc.NewPacer(clk, 0),
		ackHandler: newAckHandler(snd.cfg.FeedbackInterval),
	}
	r.start = clk.Now()
	r.scratch = make([]byte, r.l.maxPkt)
	r.sizePath()
	r.rtt.have, r.rtt.srtt, r.rtt.rttvar = true, 100*time.Millisecond, 5*time.Millisecond
	sf := sendFiles(src, order)[0]
	f := &sfile{src: sf, state: sfAcked, txCount: 3}
	f.info.Size, f.info.Path = sf.Entry.Size, sf.Entry.Path
	r.files, r.active, r.queued, r.remaining, r.waiting = []*sfile{f}, []*sfile{f}, 1, 1, 1
	r.results = make([]error, 1)
	r.byID[f.id] = f
	pto := r.rtt.pto(r.cfg.FeedbackInterval)
	f.lastTx = clk.Now()
	clk.t = clk.t.Add(pto + time.Millisecond)
	if _, err := r.onTime(clk.Now()); err != nil {
		t.Fatal(err)
	}
	if f.txCount != 4 || !f.lastTx.Equal(clk.Now()) {
		t.Fatalf("one PTO after its third probe the last file was not probed again (%d probes)", f.txCount)
	}
	r.l.flush()
}
