package logging

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/syncer"
)

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestRotatorKeepsNewestFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "ferry.log")
	r, err := OpenRotator(path, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if _, err := fmt.Fprintf(r, "line %02d\n", i); err != nil { // 8 bytes
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".3"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ferry.log.3 exists with keep=2: %v", err)
	}
	// 12 lines fit in 100 bytes, so 40 lines fill files of 12, 12, 12 and 4;
	// the oldest is gone and the rest are lines 12..39 in order.
	var all []string
	for _, p := range []string{path + ".2", path + ".1", path} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 100 || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %d bytes, mode %v", p, fi.Size(), fi.Mode().Perm())
		}
		all = append(all, lines(t, p)...)
	}
	if len(all) != 28 {
		t.Fatalf("kept %d lines, want 28", len(all))
	}
	for i, l := range all {
		if want := fmt.Sprintf("line %02d", i+12); l != want {
			t.Fatalf("line %d = %q, want %q", i, l, want)
		}
	}
}

func TestRotatorAppendsAcrossRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ferry.log")
	for i := range 2 {
		r, err := OpenRotator(path, 20, 1)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(r, "run %d\n", i) // 6 bytes each, both fit
		r.Close()
	}
	if got := lines(t, path); len(got) != 2 || got[0] != "run 0" || got[1] != "run 1" {
		t.Fatalf("ferry.log = %q", got)
	}
	r, _ := OpenRotator(path, 20, 1)
	fmt.Fprint(r, "a line that does not fit\n") // bigger than max: rotate, then write whole
	r.Close()
	if got := lines(t, path+".1"); len(got) != 2 {
		t.Fatalf("ferry.log.1 = %q, want the two earlier lines", got)
	}
	if got := lines(t, path); len(got) != 1 || got[0] != "a line that does not fit" {
		t.Fatalf("ferry.log = %q", got)
	}
}

func TestTransferLine(t *testing.T) {
	at := time.Date(2026, 11, 21, 10, 0, 2, 500_000_000, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		job, path string
		bytes     int64
		took      time.Duration
		want      string
	}{
		{"docs", "video/a b.mp4", 1 << 20, 500 * time.Millisecond,
			`2026-11-21T09:00:02.500Z job=docs bytes=1048576 seconds=0.500 rate_bps=16777216 path="video/a b.mp4"` + "\n"},
		{"my job", "new\nline\"q\".txt", 0, 0,
			`2026-11-21T09:00:02.500Z job="my job" bytes=0 seconds=0.000 rate_bps=0 path="new\nline\"q\".txt"` + "\n"},
	} {
		if got := Line(at, tc.job, tc.path, tc.bytes, tc.took); got != tc.want {
			t.Errorf("Line = %q\n  want %q", got, tc.want)
		}
	}
}

func TestTransferLogFollowsEvents(t *testing.T) {
	var b strings.Builder
	tl := NewTransferLog(&b, nil)
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	for _, ev := range []syncer.Event{
		{Time: t0, Phase: syncer.PhaseTransferring, Path: "big", Delta: 1000},
		{Time: t0.Add(time.Second), Phase: syncer.PhaseTransferring, Path: "small", Delta: 10, FileDone: true},
		{Time: t0.Add(2 * time.Second), Phase: syncer.PhaseTransferring, Path: "big", Delta: 1000, FileDone: true},
		{Time: t0.Add(3 * time.Second), Phase: syncer.PhaseTransferring, Path: "bad", Delta: 5},
		{Time: t0.Add(4 * time.Second), Phase: syncer.PhaseTransferring, Path: "bad", FileDone: true, Err: errors.New("no space")},
		{Time: t0.Add(5 * time.Second), Phase: syncer.PhaseTransferring, Path: "cut", Delta: 5},
		{Time: t0.Add(6 * time.Second), Phase: syncer.PhaseHalted},
		// The next pass moves "cut" afresh: its clock restarts.
		{Time: t0.Add(60 * time.Second), Phase: syncer.PhaseTransferring, Path: "cut", Delta: 7, FileDone: true},
	} {
		tl.Observe("docs", ev)
	}
	want := Line(t0.Add(time.Second), "docs", "small", 10, 0) +
		Line(t0.Add(2*time.Second), "docs", "big", 2000, 2*time.Second) +
		Line(t0.Add(60*time.Second), "docs", "cut", 7, 0)
	if b.String() != want {
		t.Fatalf("transfer log:\n%s\nwant:\n%s", b.String(), want)
	}
	if len(tl.flights) != 0 {
		t.Fatalf("%d files still tracked", len(tl.flights))
	}
}

func TestSetupWritesJSONAtLevel(t *testing.T) {
	dir := t.TempDir()
	log, tl, c, err := Setup(dir, slog.LevelWarn)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("pass halted", "job", "docs", "reason", "root emptied")
	if err := tl.Record(time.Unix(0, 0), "docs", "a", 1, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	got := lines(t, filepath.Join(dir, "logs", "ferry.log"))
	if len(got) != 1 {
		t.Fatalf("ferry.log has %d lines, want 1 (info filtered): %q", len(got), got)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(got[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["msg"] != "pass halted" || rec["level"] != "WARN" || rec["job"] != "docs" || rec["reason"] != "root emptied" {
		t.Fatalf("record = %v", rec)
	}
	f, err := os.Open(filepath.Join(dir, "logs", "transfers.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() || !strings.HasSuffix(sc.Text(), `job=docs bytes=1 seconds=1.000 rate_bps=8 path="a"`) {
		t.Fatalf("transfers.log = %q", sc.Text())
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "warn": slog.LevelWarn,
		"warning": slog.LevelWarn, "error": slog.LevelError} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseLevel("loud"); err == nil || !strings.Contains(err.Error(), "debug, info, warn or error") {
		t.Errorf("ParseLevel(loud) = %v", err)
	}
}

// TestLogsEscapeFormatCharacters: a name with a right-to-left override
// was written raw to ferry.log, so `cat ferry.log` showed it reversed.
// Both logs show it escaped; the JSON still decodes to the true name.
func TestLogsEscapeFormatCharacters(t *testing.T) {
	const name = "invoice\u202etxt.exe\u200b"
	dir := t.TempDir()
	log, tl, c, err := Setup(dir, slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	log.Warn("conflict", "path", name, "err", fmt.Errorf("unable to open %s: denied", name))
	if err := tl.Record(time.Unix(0, 0), "docs", name, 1, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ferry.log", "transfers.log"} {
		b, err := os.ReadFile(filepath.Join(dir, "logs", f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(string(b), "\u202e\u200b") {
			t.Errorf("%s holds a raw format character: %q", f, b)
		}
		if !strings.Contains(string(b), `\u202e`) {
			t.Errorf("%s does not show the override escaped: %q", f, b)
		}
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines(t, filepath.Join(dir, "logs", "ferry.log"))[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["path"] != name {
		t.Fatalf("the JSON log decodes to %q, want %q", rec["path"], name)
	}
}

// TestTransferLogNamesRenamesAndCopies: a file made from content the
// receiving side held says where the content came from, before the path.
func TestTransferLogNamesRenamesAndCopies(t *testing.T) {
	var b strings.Builder
	tl := NewTransferLog(&b, nil)
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	tl.Observe("docs", syncer.Event{Time: t0, Phase: syncer.PhaseTransferring, Path: "new name.mp4", FileDone: true, Op: syncer.OpRename, From: "old name.mp4"})
	tl.Observe("docs", syncer.Event{Time: t0, Phase: syncer.PhaseTransferring, Path: "b.mp4", FileDone: true, Op: syncer.OpCopy, From: "a.mp4"})
	tl.Observe("docs", syncer.Event{Time: t0, Phase: syncer.PhaseTransferring, Path: "big.bin", Delta: 9000, Reused: true})
	tl.Observe("docs", syncer.Event{Time: t0.Add(time.Second), Phase: syncer.PhaseTransferring, Path: "big.bin", Delta: 1000})
	tl.Observe("docs", syncer.Event{Time: t0.Add(time.Second), Phase: syncer.PhaseTransferring, Path: "big.bin", FileDone: true})
	want := `2026-11-21T10:00:00.000Z job=docs bytes=0 seconds=0.000 rate_bps=0 renamed_from="old name.mp4" path="new name.mp4"` + "\n" +
		`2026-11-21T10:00:00.000Z job=docs bytes=0 seconds=0.000 rate_bps=0 copied_from="a.mp4" path="b.mp4"` + "\n" +
		`2026-11-21T10:00:01.000Z job=docs bytes=1000 seconds=1.000 rate_bps=8000 in_sync=10000 path="big.bin"` + "\n"
	if b.String() != want {
		t.Fatalf("transfer log:\n%s\nwant:\n%s", b.String(), want)
	}
}
