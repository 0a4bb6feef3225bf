package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/syncer"
)

// TestPlainProgressIsBoundedByTime: when stdout is not a terminal, a pass
// of many small files writes a line for a finished file at most once a
// second (fake clock) and for the last one, not one per file: that was
// 1.3 s of a 100,000-file first sync. The phase changes are all shown.
func TestPlainProgressIsBoundedByTime(t *testing.T) {
	var out syncBuffer
	p := newProgressPrinter(&out, false)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p.now = func() time.Time { return now }
	const files, perSecond = 10_000, 1_000
	p.observe(syncer.Event{Phase: syncer.PhaseScanning})
	for i := 1; i <= files; i++ {
		if i%(perSecond/10) == 0 {
			now = now.Add(100 * time.Millisecond) // 1,000 files a second
		}
		p.observe(syncer.Event{Phase: syncer.PhaseTransferring, Path: fmt.Sprintf("d/f%05d", i), FileDone: true, FilesDone: i, FilesTotal: files})
	}
	// Failures and renames are each shown.
	for i := range 3 {
		p.observe(syncer.Event{Phase: syncer.PhaseTransferring, Path: fmt.Sprintf("bad%d", i), FileDone: true, Err: errors.New("permission denied"), FilesDone: files, FilesTotal: files})
	}
	p.observe(syncer.Event{Phase: syncer.PhaseTransferring, Path: "new", FileDone: true, Op: syncer.OpRename, From: "old", FilesDone: files, FilesTotal: files})
	p.finish()
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	fileLines := 0
	for _, l := range lines {
		if strings.Contains(l, " files)") {
			fileLines++
		}
	}
	// 10 s of the pass: the first file, one a second, and the last; and
	// the three failures and the rename.
	if want := files/perSecond + 2 + 4; fileLines > want || fileLines < files/perSecond+4 {
		t.Fatalf("%d file lines for %d files over %d s, want about one a second (at most %d):\n%s", fileLines, files, files/perSecond, want, out.String())
	}
	for _, l := range []string{"bad2: permission denied", "new: renamed from old"} {
		if !strings.Contains(out.String(), l) {
			t.Errorf("%q is not shown:\n%s", l, out.String())
		}
	}
	if !strings.Contains(out.String(), "d/f10000: ok (10000/10000 files)") {
		t.Errorf("the last file is not shown:\n%s", out.String())
	}
	if !strings.Contains(lines[0], string(syncer.PhaseScanning)) || !strings.Contains(lines[1], string(syncer.PhaseTransferring)) {
		t.Errorf("phase lines missing:\n%s", out.String())
	}
}

// TestTerminalProgressIsBoundedByTime: on a terminal, a pass of many small
// files redraws its line at most every drawEvery (fake clock) and for the
// last file, not once per file: the redraw (a snapshot of the meter) was a
// quarter of the CPU of a first sync of 10,000 small files.
func TestTerminalProgressIsBoundedByTime(t *testing.T) {
	var out syncBuffer
	p := newProgressPrinter(&out, true)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p.now = func() time.Time { return now }
	const files, perTick = 10_000, 100 // 1,000 files a second
	p.observe(syncer.Event{Phase: syncer.PhaseScanning})
	for i := 1; i <= files; i++ {
		if i%perTick == 0 {
			now = now.Add(drawEvery)
		}
		p.observe(syncer.Event{Phase: syncer.PhaseTransferring, Path: fmt.Sprintf("d/f%05d", i), FileDone: true, FilesDone: i, FilesTotal: files})
	}
	p.finish()
	draws := strings.Count(out.String(), "\r")
	// One a tick of the clock, the first, the last file's and finish's.
	if want := files/perTick + 3; draws > want {
		t.Fatalf("%d redraws for %d files over %d ticks, want at most %d", draws, files, files/perTick, want)
	}
	lines := strings.Split(out.String(), "\r")
	if final := lines[len(lines)-1]; !strings.Contains(final, "files 10000/10000") {
		t.Errorf("last line %q, want files 10000/10000", final)
	}
}
