package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/internal/logcheck"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimRight(l.b.String(), "\n"), "\n")
}

// TestPassLogNamesTheJobOnceAndSummarisesEachPass: the log the syncer
// writes through names the job once per line (it names it itself, so the
// agent must not add it too), and each finished pass has one line with its
// counts, bytes, duration and result.
func TestPassLogNamesTheJobOnceAndSummarisesEachPass(t *testing.T) {
	var buf lockedBuffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	clock := newFakeClock(mustTime(t, "2025-01-03 00:03:00"))
	cfg := testConfig(t, config.Job{Name: "docs", Local: "/l", Remote: "/r"})
	a, err := New(cfg, Options{Open: nopOpen, Clock: clock, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	passes := make(chan struct{}, 10)
	a.pass = func(ctx context.Context, opts syncer.Options) (snapshot.PassRecord, error) {
		defer func() { passes <- struct{}{} }()
		// As the syncer logs: every line names the job.
		opts.Log.Warn("conflict", "job", opts.Job.Name, "path", "a.txt")
		start := clock.Now()
		clock.Advance(1500 * time.Millisecond)
		return snapshot.PassRecord{Start: start, End: clock.Now(), Created: 3, Updated: 2, Deleted: 1, Conflicts: 1, Bytes: 4096, InSync: 8192}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-passes:
	case <-time.After(10 * time.Second):
		t.Fatal("no pass within 10 s")
	}
	var summary map[string]any
	waitFor(t, "the pass's summary line", func() bool {
		for _, l := range buf.lines() {
			if strings.Contains(l, `"msg":"pass finished"`) {
				return json.Unmarshal([]byte(l), &summary) == nil
			}
		}
		return false
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, l := range buf.lines() {
		dups, err := logcheck.DuplicateKeys([]byte(l))
		if err != nil || len(dups) > 0 {
			t.Errorf("log line has keys %v twice (%v): %s", dups, err, l)
		}
	}
	want := map[string]any{"job": "docs", "result": "done", "created": 3.0, "updated": 2.0, "deleted": 1.0,
		"conflicts": 1.0, "bytes": 4096.0, "in_sync_bytes": 8192.0, "seconds": 1.5}
	for k, v := range want {
		if summary[k] != v {
			t.Errorf("pass summary %s = %v, want %v (line %v)", k, summary[k], v, summary)
		}
	}
	n := 0
	for _, l := range buf.lines() {
		if strings.Contains(l, `"msg":"pass`) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d lines about the one pass, want 1:\n%s", n, strings.Join(buf.lines(), "\n"))
	}
}
