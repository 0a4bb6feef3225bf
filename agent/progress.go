package agent

import (
	"sort"
	"time"

	"github.com/ferry-sync/ferry/syncer"
)

const (
	// rateWindow is how far back the recent rate looks.
	rateWindow = 5 * time.Second
	// minRateSpan is the shortest span a rate is measured over: a burst
	// of acknowledgements right after a start is no rate.
	minRateSpan = time.Second
	// HistoryLen is how many one-second rate samples a job keeps for
	// front ends that start after the transfer (the page on a reload).
	HistoryLen = 300
)

type sample struct {
	at    time.Time
	bytes int64
}

// window measures a recent rate from a running byte count.
type window struct {
	samples []sample
}

func (w *window) add(now time.Time, bytes int64) {
	// One sample per 100 ms keeps the window small at any event rate.
	if n := len(w.samples); n == 0 || now.Sub(w.samples[n-1].at) >= 100*time.Millisecond {
		w.samples = append(w.samples, sample{now, bytes})
	} else {
		w.samples[n-1].bytes = bytes
	}
	// Keep one sample older than the window as the rate's base.
	cut := 0
	for cut+1 < len(w.samples) && now.Sub(w.samples[cut+1].at) >= rateWindow {
		cut++
	}
	w.samples = w.samples[cut:]
}

// rate is bits per second over the window as of now. A stalled transfer
// decays toward zero rather than holding its last rate.
func (w *window) rate(now time.Time) float64 {
	if len(w.samples) < 2 {
		return 0
	}
	first, last := w.samples[0], w.samples[len(w.samples)-1]
	dt := max(now.Sub(first.at), minRateSpan).Seconds()
	if last.bytes <= first.bytes {
		return 0
	}
	return float64(last.bytes-first.bytes) * 8 / dt
}

type transfer struct {
	size     int64
	done     int64 // in place: sent and reused
	reused   int64
	download bool
	w        window // of bytes sent
}

// progress folds a pass's events into Progress and per-file statuses.
// Rates and ETAs count only bytes that crossed the link: what the
// receiving side already held (a resumed partial, a block delta's chunks)
// is in sync without taking any of the link's time. It is guarded by its
// runner's mutex.
type progress struct {
	p         Progress
	reused    int64
	w         window // of the pass's bytes sent
	transfers map[string]*transfer
	hist      history
}

func (p *progress) reset() {
	hist := p.hist
	*p = progress{transfers: make(map[string]*transfer), hist: hist}
}

func (p *progress) observe(ev syncer.Event, now time.Time) {
	if p.transfers == nil {
		p.transfers = make(map[string]*transfer)
	}
	if ev.Path != "" && ev.Delta != 0 {
		if ev.Reused {
			p.reused += ev.Delta
		} else {
			p.hist.add(now, ev.Delta)
		}
	}
	p.p.FilesDone, p.p.FilesTotal = ev.FilesDone, ev.FilesTotal
	p.p.SoFar = ev.SoFar
	p.p.BytesDone, p.p.BytesTotal = ev.BytesDone-p.reused, ev.BytesTotal-p.reused
	p.p.BytesReused = p.reused
	if ev.Path != "" {
		if ev.FileDone {
			delete(p.transfers, ev.Path)
		} else if ev.Delta != 0 {
			tr := p.transfers[ev.Path]
			if tr == nil {
				tr = &transfer{}
				p.transfers[ev.Path] = tr
			}
			tr.size, tr.download = ev.Size, ev.Download
			tr.done += ev.Delta
			if ev.Reused {
				tr.reused += ev.Delta
			}
			tr.w.add(now, tr.done-tr.reused)
		}
	}
	p.w.add(now, p.p.BytesDone)
}

// finish keeps the pass's totals for display but drops what only means
// something while files move.
func (p *progress) finish() {
	p.w = window{}
	clear(p.transfers)
}

// snapshot returns the progress with rate and ETA as of now.
func (p *progress) snapshot(now time.Time) (Progress, []TransferStatus) {
	out := p.p
	out.Rate = p.w.rate(now)
	if out.Rate > 0 && out.BytesTotal > out.BytesDone && !out.SoFar {
		out.ETA = time.Duration(float64(out.BytesTotal-out.BytesDone) * 8 / out.Rate * float64(time.Second))
	}
	var trs []TransferStatus
	for path, tr := range p.transfers {
		ts := TransferStatus{Path: path, Size: tr.size, Done: tr.done, Reused: tr.reused, Rate: tr.w.rate(now), download: tr.download}
		if ts.Rate > 0 && tr.size > tr.done {
			ts.ETA = time.Duration(float64(tr.size-tr.done) * 8 / ts.Rate * float64(time.Second))
		}
		trs = append(trs, ts)
	}
	sort.Slice(trs, func(i, j int) bool { return trs[i].Path < trs[j].Path })
	return out, trs
}

// history keeps the bytes a job sent in each of the last HistoryLen
// seconds, across passes, so that a rate graph can start with the past.
type history struct {
	// sec is the Unix second of bytes[(sec) % HistoryLen]'s newest use.
	secs  [HistoryLen]int64
	bytes [HistoryLen]int64
}

func (h *history) add(now time.Time, n int64) {
	s := now.Unix()
	i := s % HistoryLen
	if h.secs[i] != s {
		h.secs[i], h.bytes[i] = s, 0
	}
	h.bytes[i] += n
}

// rates returns one rate (bits/s) per second for the HistoryLen seconds
// before now's second, oldest first: whole seconds only, so the last
// value does not read low while its second runs.
func (h *history) rates(now time.Time) []float64 {
	out := make([]float64, HistoryLen)
	end := now.Unix()
	for k := range out {
		s := end - HistoryLen + int64(k)
		if i := ((s % HistoryLen) + HistoryLen) % HistoryLen; h.secs[i] == s {
			out[k] = float64(h.bytes[i]) * 8
		}
	}
	return out
}
