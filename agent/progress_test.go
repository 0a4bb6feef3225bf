package agent

import (
	"testing"
	"time"

	"github.com/ferry-sync/ferry/syncer"
)

func TestProgressRateUsesRecentWindow(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var p progress
	p.reset()
	// 10 s at 1 MB/s, after a first second at 9 MB/s that the window
	// must forget.
	p.observe(syncer.Event{Phase: syncer.PhaseTransferring, Path: "f", Delta: 9e6, BytesDone: 9e6, BytesTotal: 40e6}, t0)
	for i := 1; i <= 10; i++ {
		p.observe(syncer.Event{Phase: syncer.PhaseTransferring, Path: "f", Delta: 1e6, BytesDone: 9e6 + int64(i)*1e6, BytesTotal: 40e6},
			t0.Add(time.Duration(i)*time.Second))
	}
	now := t0.Add(10 * time.Second)
	got, trs := p.snapshot(now)
	if got.Rate != 8e6 {
		t.Fatalf("rate %.0f bit/s, want 8e6 (1 MB/s over the last 5 s)", got.Rate)
	}
	if want := 21 * time.Second; got.ETA != want {
		t.Fatalf("ETA %s, want %s", got.ETA, want)
	}
	if len(trs) != 1 || trs[0].Done != 19e6 {
		t.Fatalf("transfers %+v", trs)
	}
	// A stall decays the rate instead of freezing it.
	if stalled, _ := p.snapshot(now.Add(5 * time.Second)); stalled.Rate >= got.Rate {
		t.Fatalf("rate after a 5 s stall %.0f, not below %.0f", stalled.Rate, got.Rate)
	}
	p.observe(syncer.Event{Phase: syncer.PhaseTransferring, Path: "f", FileDone: true, BytesDone: 40e6, BytesTotal: 40e6}, now)
	if _, trs := p.snapshot(now); len(trs) != 0 {
		t.Fatalf("finished file still listed: %+v", trs)
	}
	p.finish()
	if done, _ := p.snapshot(now); done.Rate != 0 || done.BytesDone != 40e6 {
		t.Fatalf("after the pass: %+v, want totals kept and no rate", done)
	}
}

// TestProgressCountsOnlyBytesSentAfterResume: a file resumed from a
// partial reports the held part as reused, all at once; the rate, the ETA
// and the pass's bytes are of what crosses the link, so neither the job's
// nor the file's rate jumps above what was sent.
func TestProgressCountsOnlyBytesSentAfterResume(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var p progress
	p.reset()
	const size = 30e6
	ev := func(delta, done int64, reused bool) syncer.Event {
		return syncer.Event{Phase: syncer.PhaseTransferring, Path: "f", Size: size, Delta: delta, Reused: reused, BytesDone: done, BytesTotal: size}
	}
	// 20 MB held, found at once; then 1 MB/s.
	p.observe(ev(20e6, 20e6, true), t0)
	for i := int64(1); i <= 4; i++ {
		p.observe(ev(1e6, 20e6+i*1e6, false), t0.Add(time.Duration(i)*time.Second))
	}
	now := t0.Add(4 * time.Second)
	got, trs := p.snapshot(now)
	if got.Rate != 8e6 {
		t.Errorf("job rate %.0f bit/s, want 8e6: the 20 MB held are no rate", got.Rate)
	}
	if got.BytesDone != 4e6 || got.BytesTotal != 10e6 || got.BytesReused != 20e6 {
		t.Errorf("progress %+v, want 4 MB of 10 MB to send, 20 MB reused", got)
	}
	if want := 6 * time.Second; got.ETA != want {
		t.Errorf("ETA %s, want %s", got.ETA, want)
	}
	if len(trs) != 1 {
		t.Fatalf("transfers %+v", trs)
	}
	tr := trs[0]
	if tr.Size != size || tr.Done != 24e6 || tr.Reused != 20e6 || tr.Rate != 8e6 || tr.ETA != 6*time.Second {
		t.Errorf("file in flight %+v, want size 30 MB, 24 MB in place of which 20 MB reused, 8 Mbit/s, 6 s left", tr)
	}
}

// TestProgressRateOfABurstIsMeasuredOverASecond: acknowledgements that
// arrive together right after a start are not taken for a rate of their
// own (a 32 KiB burst in 1 ms read as 260 Mbit/s).
func TestProgressRateOfABurstIsMeasuredOverASecond(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var p progress
	p.reset()
	p.observe(syncer.Event{Phase: syncer.PhaseTransferring}, t0)
	p.observe(syncer.Event{Phase: syncer.PhaseTransferring, Path: "f", Size: 1e6, Delta: 32 << 10, BytesDone: 32 << 10, BytesTotal: 1e6}, t0.Add(time.Millisecond))
	got, trs := p.snapshot(t0.Add(time.Millisecond))
	if got.Rate > 32<<10*8 || len(trs) != 1 || trs[0].Rate > 32<<10*8 {
		t.Fatalf("rate %.0f, file %+v: a burst counted over less than a second", got.Rate, trs)
	}
}

// TestRateHistoryKeepsSecondsAcrossPasses: the job's history holds the
// bytes sent per second for HistoryLen seconds, over pass boundaries, and
// nothing for seconds nothing moved or that fell out of it.
func TestRateHistoryKeepsSecondsAcrossPasses(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var p progress
	p.reset()
	p.observe(syncer.Event{Phase: syncer.PhaseTransferring, Path: "a", Delta: 1000}, t0)
	p.observe(syncer.Event{Phase: syncer.PhaseTransferring, Path: "a", Delta: 500}, t0.Add(300*time.Millisecond))
	p.observe(syncer.Event{Phase: syncer.PhaseTransferring, Path: "a", Delta: 9e6, Reused: true}, t0.Add(400*time.Millisecond))
	p.finish()
	p.reset()
	p.observe(syncer.Event{Phase: syncer.PhaseTransferring, Path: "b", Delta: 2000}, t0.Add(2*time.Second))
	h := p.hist.rates(t0.Add(3 * time.Second))
	if len(h) != HistoryLen {
		t.Fatalf("%d samples, want %d", len(h), HistoryLen)
	}
	if got := h[HistoryLen-3:]; got[0] != 1500*8 || got[1] != 0 || got[2] != 2000*8 {
		t.Fatalf("last three seconds %v, want [12000 0 16000]", got)
	}
	// HistoryLen+1 s on, t0's second fell out; t0+2 s is the second kept.
	later := p.hist.rates(t0.Add((HistoryLen + 1) * time.Second))
	for i, v := range later {
		if want := map[bool]float64{true: 2000 * 8}[i == 1]; v != want {
			t.Fatalf("second %d of the later history is %v, want %v", i, v, want)
		}
	}
}
