package logging

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/syncer"
)

// TransferLog writes one line per file moved:
//
//	2026-11-21T10:00:02.500Z job=docs bytes=1048576 seconds=0.500 rate_bps=16777216 path="video/a b.mp4"
//
// The path is last and always quoted (Go syntax), so names with spaces,
// quotes or newlines keep one file to one line. A file made on the
// receiving side from content it already held, without sending it, says
// so before the path:
//
//	2026-11-21T10:00:03.000Z job=docs bytes=0 seconds=0.001 rate_bps=0 renamed_from="video/old.mp4" path="video/a b.mp4"
//	2026-11-21T10:00:03.000Z job=docs bytes=0 seconds=0.001 rate_bps=0 copied_from="a.mp4" path="b.mp4"
//
// A file built on the receiving side partly from content it held (a block
// delta) has bytes= for what crossed the link and in_sync= for its size:
//
//	2026-11-21T10:00:04.000Z job=docs bytes=65537 seconds=2.100 rate_bps=249664 in_sync=209715201 path="big.bin"
//
// Safe for concurrent use.
type TransferLog struct {
	now func() time.Time

	mu      sync.Mutex
	w       io.Writer
	flights map[flightKey]*flight
}

type flightKey struct{ job, path string }

type flight struct {
	start  time.Time
	bytes  int64 // sent
	inSync int64 // sent and reused
}

// NewTransferLog writes lines to w. now may be nil (time.Now); it stamps
// events that carry no time.
func NewTransferLog(w io.Writer, now func() time.Time) *TransferLog {
	if now == nil {
		now = time.Now
	}
	return &TransferLog{w: w, now: now, flights: map[flightKey]*flight{}}
}

// Record writes the line for one file of job that finished moving at at.
func (t *TransferLog) Record(at time.Time, job, path string, bytes int64, took time.Duration) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.record(at, job, path, bytes, took)
}

func (t *TransferLog) record(at time.Time, job, path string, bytes int64, took time.Duration) error {
	_, err := io.WriteString(t.w, Line(at, job, path, bytes, took))
	if err != nil {
		return fmt.Errorf("unable to write transfer log: %w", err)
	}
	return nil
}

// Line formats one transfer-log line, newline included.
func Line(at time.Time, job, path string, bytes int64, took time.Duration) string {
	return line(at, job, path, bytes, took, "")
}

// line is Line with extra fields (each with its leading blank) before the
// path.
func line(at time.Time, job, path string, bytes int64, took time.Duration, extra string) string {
	rate := int64(0)
	if took > 0 {
		rate = int64(float64(bytes) * 8 / took.Seconds())
	}
	var b strings.Builder
	b.WriteString(at.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	b.WriteString(" job=")
	b.WriteString(word(job))
	fmt.Fprintf(&b, " bytes=%d seconds=%.3f rate_bps=%d", bytes, took.Seconds(), rate)
	b.WriteString(extra)
	b.WriteString(" path=")
	b.WriteString(strconv.Quote(path))
	b.WriteByte('\n')
	return b.String()
}

// word leaves plain job names bare and quotes the rest.
func word(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == '"' || r == '=' || r >= 0x7f }) {
		return strconv.Quote(s)
	}
	return s
}

// Observe follows job's pass events and writes a line for each file that
// finished without error; it fits agent.Options.Observer (with metrics, in
// one func). A file's time runs from its first event to its FileDone.
func (t *TransferLog) Observe(job string, ev syncer.Event) {
	at := ev.Time
	if at.IsZero() {
		at = t.now()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if ev.Phase == syncer.PhaseDone || ev.Phase == syncer.PhaseHalted {
		for k := range t.flights {
			if k.job == job {
				delete(t.flights, k)
			}
		}
		return
	}
	if ev.Path == "" {
		return
	}
	k := flightKey{job, ev.Path}
	f := t.flights[k]
	if f == nil {
		f = &flight{start: at}
		t.flights[k] = f
	}
	f.inSync += ev.Delta
	if !ev.Reused {
		f.bytes += ev.Delta
	}
	if !ev.FileDone {
		return
	}
	delete(t.flights, k)
	if ev.Err == nil {
		// A failed write here must not stall the pass; the main log
		// still has the pass summary.
		var from string
		switch ev.Op {
		case syncer.OpRename:
			from = " renamed_from=" + strconv.Quote(ev.From)
		case syncer.OpCopy:
			from = " copied_from=" + strconv.Quote(ev.From)
		default:
			if f.inSync != f.bytes {
				from = " in_sync=" + strconv.FormatInt(f.inSync, 10)
			}
		}
		_, _ = io.WriteString(t.w, line(at, job, ev.Path, f.bytes, at.Sub(f.start), from))
	}
}
