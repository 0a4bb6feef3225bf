package data

import (
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
			if len(r.retx) != c.want {
				t.Fatalf("%d spans queued, want %d: %+v", len(r.retx), c.want, r.retx)
			}
			for i, sp := range r.retx {
				if want := int64(4000 * (i % 2)); sp.off != want || sp.n != 1000 {
					t.Errorf("span %d: offset %d, %d bytes; want %d, 1000", i, sp.off, sp.n, want)
				}
			}
		})
	}
}
