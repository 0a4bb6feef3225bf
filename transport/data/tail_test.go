package data

import (
	"time"

	"testing"

	"github.com/ferry-sync/ferry/transport/wire"
)

// TestTailLossIsSentTwice: once every byte has been sent, the data of
// packets declared lost is queued twice (this round's spans, then their
// copies), so a round of tail loss is lost again one in a hundred times at
// 10 % loss rather than one in ten; while new data is left it is queued
// once, as before.
func TestTailLossIsSentTwice(t *testing.T) {
	for _, c := range []struct {
		name  string
		next  int64
		queue int // files not admitted yet
		want  int
	}{
		{"every byte sent", 10_000, 0, 4},
		{"new data left", 5_000, 0, 2},
		{"files not admitted", 10_000, 1, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &sfile{state: sfSending, info: wire.File{Size: 10_000}, next: c.next}
			r := &sendRun{files: []*sfile{f}, active: []*sfile{f}, queued: 1}
			for range c.queue {
				r.files = append(r.files, &sfile{})
			}
			r.onLost([]sentPkt{{f: f, off: 0, n: 1000, size: 1041}, {f: f, off: 4000, n: 1000, size: 1041}})
			q := r.retx.spans()
			if len(q) != c.want {
				t.Fatalf("%d spans queued, want %d: %+v", len(q), c.want, q)
			}
			for i, sp := range q {
				if want := int64(4000 * (i % 2)); sp.off != want || sp.n != 1000 {
					t.Errorf("span %d: offset %d, %d bytes; want %d, 1000", i, sp.off, sp.n, want)
				}
			}
		})
	}
}

// TestTailProbeCarriesNewestData: a probe timeout in the tail queues the
// data of the newest DATA packet still in flight (not an acknowledged or
// lost one, nor a control packet); outside the tail it queues nothing.
func TestTailProbeCarriesNewestData(t *testing.T) {
	for _, tail := range []bool{true, false} {
		f := &sfile{state: sfSending, info: wire.File{Size: 10_000}, next: 10_000}
		if !tail {
			f.next = 5_000
		}
		r := &sendRun{files: []*sfile{f}, active: []*sfile{f}, queued: 1, ackHandler: newAckHandler(10 * time.Millisecond)}
		now := time.Unix(1000, 0)
		r.ackHandler.onSent(now, 1, sentPkt{at: now, f: f, off: 0, n: 1000, size: 1041})
		r.ackHandler.onSent(now, 2, sentPkt{at: now, f: f, off: 1000, n: 1000, size: 1041})
		r.ackHandler.onSent(now, 3, sentPkt{at: now}) // a PING
		r.ackHandler.onSent(now, 4, sentPkt{at: now, f: f, off: 2000, n: 1000, size: 1041})
		// 4 acknowledged: the newest still in flight is 2.
		r.ackHandler.onFeedback(now.Add(100*time.Millisecond), wire.Feedback{Ranges: []wire.Range{{Lo: 4, Hi: 4}}})
		if !r.ackHandler.onTimer(now.Add(time.Hour)) {
			t.Fatal("no probe timeout with DATA in flight")
		}
		r.tailProbe()
		q := r.retx.spans()
		switch {
		case tail && (len(q) != 1 || q[0].off != 1000 || q[0].n != 1000):
			t.Errorf("tail: queued %+v, want the span at 1000 (packet 2)", q)
		case !tail && len(q) != 0:
			t.Errorf("new data left: queued %+v, want nothing", q)
		}
	}
}

// TestResultIsSentTwiceOnALossyPath: once a packet number is missing
// (the acknowledgement ranges have a gap) a commit's RESULT goes out
// twice; on a path that has lost nothing, once.
func TestResultIsSentTwiceOnALossyPath(t *testing.T) {
	rr := &recvRun{}
	now := time.Unix(1000, 0)
	for pn := uint64(1); pn <= 5; pn++ {
		rr.noteNumber(pn, now)
	}
	if n := rr.resultCopies(); n != 1 {
		t.Fatalf("no loss: %d copies of a RESULT, want 1", n)
	}
	rr.noteNumber(7, now) // 6 missing
	if n := rr.resultCopies(); n != 2 {
		t.Fatalf("packet 6 missing: %d copies of a RESULT, want 2", n)
	}
}
