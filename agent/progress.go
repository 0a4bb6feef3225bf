package agent

import (
	"sort"
	"time"

	"github.com/ferry-sync/ferry/syncer"
)

// rateWindow is how far back the recent rate looks.
const rateWindow = 5 * time.Second

type sample struct {
	at    time.Time
	bytes int64
}

type transfer struct {
	start time.Time
	done  int64
}

// progress folds a pass's events into Progress and per-file statuses.
// It is guarded by its runner's mutex.
type progress struct {
	p         Progress
	samples   []sample
	transfers map[string]*transfer
}

func (p *progress) reset() {
	*p = progress{transfers: make(map[string]*transfer)}
}

func (p *progress) observe(ev syncer.Event, now time.Time) {
	if p.transfers == nil {
		p.transfers = make(map[string]*transfer)
	}
	p.p.FilesDone, p.p.FilesTotal = ev.FilesDone, ev.FilesTotal
	p.p.BytesDone, p.p.BytesTotal = ev.BytesDone, ev.BytesTotal
	if ev.Path != "" {
		if ev.FileDone {
			delete(p.transfers, ev.Path)
		} else if ev.Delta != 0 {
			tr := p.transfers[ev.Path]
			if tr == nil {
				tr = &transfer{start: now}
				p.transfers[ev.Path] = tr
			}
			tr.done += ev.Delta
		}
	}
	// One sample per 100 ms keeps the window small at any event rate.
	if n := len(p.samples); n == 0 || now.Sub(p.samples[n-1].at) >= 100*time.Millisecond {
		p.samples = append(p.samples, sample{now, ev.BytesDone})
	} else {
		p.samples[n-1].bytes = ev.BytesDone
	}
	// Keep one sample older than the window as the rate's base.
	cut := 0
	for cut+1 < len(p.samples) && now.Sub(p.samples[cut+1].at) >= rateWindow {
		cut++
	}
	p.samples = p.samples[cut:]
}

// finish keeps the pass's totals for display but drops what only means
// something while files move.
func (p *progress) finish() {
	p.samples = nil
	clear(p.transfers)
}

// snapshot returns the progress with rate and ETA as of now.
func (p *progress) snapshot(now time.Time) (Progress, []TransferStatus) {
	out := p.p
	if len(p.samples) >= 2 {
		first, last := p.samples[0], p.samples[len(p.samples)-1]
		// A stalled transfer decays toward zero rather than holding its
		// last rate.
		if dt := now.Sub(first.at).Seconds(); dt > 0 && last.bytes > first.bytes {
			out.Rate = float64(last.bytes-first.bytes) * 8 / dt
		}
	}
	if out.Rate > 0 && out.BytesTotal > out.BytesDone {
		out.ETA = time.Duration(float64(out.BytesTotal-out.BytesDone) * 8 / out.Rate * float64(time.Second))
	}
	var trs []TransferStatus
	for path, tr := range p.transfers {
		ts := TransferStatus{Path: path, Done: tr.done}
		if dt := now.Sub(tr.start).Seconds(); dt > 0 {
			ts.Rate = float64(tr.done) * 8 / dt
		}
		trs = append(trs, ts)
	}
	sort.Slice(trs, func(i, j int) bool { return trs[i].Path < trs[j].Path })
	return out, trs
}
