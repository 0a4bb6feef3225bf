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
