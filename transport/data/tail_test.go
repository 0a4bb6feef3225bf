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
