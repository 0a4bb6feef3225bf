package render

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/halt"
	"github.com/ferry-sync/ferry/snapshot"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

var now = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func jobs() []agent.JobStatus {
	mail := agent.JobStatus{Name: "mail", State: agent.Halted, Last: &snapshot.PassRecord{End: now.Add(-3 * time.Hour), Halted: "root emptied"}}
	mail.SetHalt(&halt.Halt{Kind: halt.RootEmptied, Job: "mail", Config: "/home/ann/.config/ferry/my jobs.yaml",
		Side: halt.Local, Root: "/home/ann/mail", Count: 1200})
	return []agent.JobStatus{
		{
			Name: "docs", Direction: config.TwoWay, State: agent.Transferring, VersionsBytes: 5 << 20, Sessions: 4,
			Progress: agent.Progress{FilesDone: 12, FilesTotal: 40, BytesDone: 310 << 20, BytesTotal: 1 << 30, Rate: 84e6, ETA: 83 * time.Second},
			Transfers: []agent.TransferStatus{
				{Path: "video/talk.mp4", Size: 700 << 20, Done: 210 << 20, Rate: 84e6, TargetRate: 100e6, MinRate: 10e6, Policy: "fair",
					RetransmitPct: 0.42, RTT: 23400 * time.Microsecond, ETA: 350 * time.Second},
				{Path: "notes/a\x1b[2Jb\u202etxt.exe", Size: 4096, Done: 1024, Rate: 950e3, Policy: "low"},
			},
			Last: &snapshot.PassRecord{End: now.Add(-4*time.Minute - 5*time.Second), Created: 3, Updated: 1, Bytes: 5 << 20, Problems: 1,
				ProblemPaths: []snapshot.ProblemPath{{Side: "local", Path: "private/\xffkey\x1b[2J\u200b", Problem: "unable to read: permission denied"}}},
		},
		{
			Name: "photos", State: agent.Idle, NextPass: now.Add(12 * time.Second), Conflicts: 2, Config: "/etc/ferry/jobs.yaml",
			Last: &snapshot.PassRecord{End: now.Add(-40 * time.Second), Deleted: 2, Renamed: 1, Copied: 2, Bytes: 900, InSync: 3 << 20},
		},
		{Name: "scan", State: agent.Scanning},
		mail,
		{Name: "music box", State: agent.Stopped, Config: "/home/ann/my jobs.yaml", Last: &snapshot.PassRecord{End: now.Add(-50 * time.Hour), Err: "remote unreachable"}},
		{Name: "evil\x1b]0;pwned\x07", State: agent.Halted, Halted: "signature missing\n\x1b[31mfake line\u2066"},
		{Name: "later", State: agent.Idle, Mode: config.Continuous},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./service/render -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./service/render -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
	if bytes.IndexByte(got, 0x1b) >= 0 || bytes.IndexByte(got, 0x07) >= 0 {
		t.Errorf("%s: raw control characters reached the output", name)
	}
	if bytes.ContainsFunc(got, func(r rune) bool { return r != '\n' && Hidden(r) }) {
		t.Errorf("%s: a raw format character (bidi control, zero-width) reached the output", name)
	}
}

func TestStatusGolden(t *testing.T) {
	for _, tty := range []bool{true, false} {
		var b bytes.Buffer
		if err := Status(&b, jobs(), now, tty); err != nil {
			t.Fatal(err)
		}
		name := "status_plain.golden"
		if tty {
			name = "status_tty.golden"
		}
		golden(t, name, b.Bytes())
	}
}

func TestStatusNoJobs(t *testing.T) {
	var b bytes.Buffer
	if err := Status(&b, nil, now, false); err != nil || b.String() != "no jobs configured\n" {
		t.Fatalf("Status(nil) = %q, %v", b.String(), err)
	}
}

func TestMonitorGolden(t *testing.T) {
	h := NewHistory(30)
	js := jobs()
	for i := range 30 {
		// The big transfer ramps up; the small one is steady.
		js[0].Transfers[0].Rate = float64(i+1) * 3e6
		h.Add(js)
	}
	var b bytes.Buffer
	if err := Monitor(&b, js, h, now); err != nil {
		t.Fatal(err)
	}
	golden(t, "monitor.golden", b.Bytes())
}

func TestHistoryForgetsFinishedTransfers(t *testing.T) {
	h := NewHistory(3)
	js := jobs()
	for _, r := range []float64{1, 2, 3, 4} {
		js[0].Transfers[0].Rate = r
		h.Add(js)
	}
	if got := h.Rates("docs", "video/talk.mp4"); len(got) != 3 || got[0] != 2 || got[2] != 4 {
		t.Fatalf("Rates = %v, want the last 3 samples [2 3 4]", got)
	}
	js[0].Transfers = js[0].Transfers[1:]
	h.Add(js)
	if got := h.Rates("docs", "video/talk.mp4"); got != nil {
		t.Fatalf("finished transfer still has samples %v", got)
	}
}

func TestProgressBar(t *testing.T) {
	for _, tc := range []struct {
		done, total int64
		width       int
		want        string
	}{
		{0, 100, 10, "░░░░░░░░░░"},
		{100, 100, 10, "██████████"},
		{50, 100, 10, "█████░░░░░"},
		{45, 100, 10, "████▌░░░░░"},
		{100, 800, 1, "▏"}, {1, 800, 1, "░"},
		{200, 100, 4, "████"},
		{-5, 100, 4, "░░░░"},
		{5, 0, 4, "░░░░"},
		{5, 10, 0, ""},
	} {
		if got := ProgressBar(tc.done, tc.total, tc.width); got != tc.want {
			t.Errorf("ProgressBar(%d, %d, %d) = %q, want %q", tc.done, tc.total, tc.width, got, tc.want)
		}
		if tc.width > 0 && len([]rune(ProgressBar(tc.done, tc.total, tc.width))) != tc.width {
			t.Errorf("ProgressBar(%d, %d, %d) is not %d cells wide", tc.done, tc.total, tc.width, tc.width)
		}
	}
}

func TestSparkline(t *testing.T) {
	for _, tc := range []struct {
		in    []float64
		width int
		want  string
	}{
		{[]float64{0, 1, 2, 3, 4, 5, 6, 7}, 8, "▁▂▃▄▅▆▇█"},
		{[]float64{9, 0, 7}, 2, "▁█"},
		{[]float64{0, 0}, 5, "▁▁"},
		{nil, 5, ""},
	} {
		if got := Sparkline(tc.in, tc.width); got != tc.want {
			t.Errorf("Sparkline(%v, %d) = %q, want %q", tc.in, tc.width, got, tc.want)
		}
	}
}

func TestHumanUnits(t *testing.T) {
	for in, want := range map[float64]string{0: "0 bit/s", 999: "999 bit/s", 950e3: "950 kbit/s", 84e6: "84 Mbit/s", 2.5e6: "2.5 Mbit/s", 1.25e9: "1.2 Gbit/s", -3: "0 bit/s"} {
		if got := Rate(in); got != want {
			t.Errorf("Rate(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 310 << 20: "310 MiB", 1 << 30: "1.0 GiB", 5 << 40: "5.0 TiB"} {
		if got := Size(in); got != want {
			t.Errorf("Size(%d) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[time.Duration]string{0: "0s", 12 * time.Second: "12s", 245 * time.Second: "4m05s",
		2*time.Hour + 3*time.Minute: "2h03m", 76 * time.Hour: "3d04h", -time.Second: "0s"} {
		if got := Duration(in); got != want {
			t.Errorf("Duration(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestCleanEscapesControls(t *testing.T) {
	for in, want := range map[string]string{
		"plain ünïcode ✓": "plain ünïcode ✓",
		"a\x1b[2Jb":       `a\x1b[2Jb`,
		"line\nbreak\t":   `line\nbreak\t`,
		"bad\xffutf8":     `bad\xffutf8`,
		"c1\u009bx":       `c1\u009bx`,
		"del\x7f":         `del\x7f`,
	} {
		got := Clean(in)
		if got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
		if strings.ContainsFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Errorf("Clean(%q) kept a control character", in)
		}
	}
}

// TestProblemsNamesPathsAndCountsTheRest: a pass record names at most
// snapshot.MaxProblemPaths paths; the rest are counted, not dropped.
func TestProblemsNamesPathsAndCountsTheRest(t *testing.T) {
	r := snapshot.PassRecord{Problems: snapshot.MaxProblemPaths + 5}
	for i := range snapshot.MaxProblemPaths {
		r.ProblemPaths = append(r.ProblemPaths, snapshot.ProblemPath{Side: "remote", Path: fmt.Sprintf("d/f%02d", i), Problem: "unable to read: permission denied"})
	}
	got := Problems(r)
	for _, want := range []string{
		"25 paths could not be read",
		"  remote d/f00: unable to read: permission denied\n",
		fmt.Sprintf("  remote d/f%02d: ", snapshot.MaxProblemPaths-1),
		"  and 5 more (the log names them all)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if Problems(snapshot.PassRecord{}) != "" {
		t.Error("a pass without problems should print nothing")
	}
	if got := Problems(snapshot.PassRecord{Problems: 3}); !strings.Contains(got, "the log does") {
		t.Errorf("a record from before paths were named should point at the log:\n%s", got)
	}
}

// cleanCases are names with characters that reorder or hide text, and how
// Clean shows them.
var cleanCases = map[string]string{
	"invoice\u202etxt.exe":        `invoice\u202etxt.exe`, // right-to-left override: reads "invoiceexe.txt"
	"a\u202a\u202b\u202c\u202db":  `a\u202a\u202b\u202c\u202db`,
	"\u2066x\u2067y\u2068z\u2069": `\u2066x\u2067y\u2068z\u2069`,
	"zero\u200bwidth\u200c\u200d": `zero\u200bwidth\u200c\u200d`,
	"\ufeffbom\u200e\u200f\u061c": `\ufeffbom\u200e\u200f\u061c`,
	"soft\u00adhyphen":            `soft\u00adhyphen`,
	"line\u2028para\u2029":        `line\u2028para\u2029`,
	"tag\U000e0041":               `tag\U000e0041`,
	"a\x1b[2Jb":                   `a\x1b[2Jb`,
	"c1\u009bx":                   `c1\u009bx`,
	"plain ünïcode ✓ 日本 café":     "plain ünïcode ✓ 日本 café",
}

// TestCleanEscapesFormatCharacters: a name with a bidi override or a
// zero-width character was printed raw, so it read as another name.
func TestCleanEscapesFormatCharacters(t *testing.T) {
	for in, want := range cleanCases {
		got := Clean(in)
		if got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
		if strings.ContainsFunc(got, Hidden) {
			t.Errorf("Clean(%q) = %q kept a hidden character", in, got)
		}
	}
}

// TestCleanEscapesEveryFormatCharacter walks all of category Cf.
func TestCleanEscapesEveryFormatCharacter(t *testing.T) {
	n := 0
	for _, rt := range unicode.Cf.R16 {
		for r := rune(rt.Lo); r <= rune(rt.Hi); r += rune(rt.Stride) {
			if got := Clean("a" + string(r)); strings.ContainsRune(got, r) {
				t.Errorf("Clean kept U+%04X", r)
			}
			n++
		}
	}
	for _, rt := range unicode.Cf.R32 {
		for r := rune(rt.Lo); r <= rune(rt.Hi); r += rune(rt.Stride) {
			if got := Clean("a" + string(r)); strings.ContainsRune(got, r) {
				t.Errorf("Clean kept U+%04X", r)
			}
			n++
		}
	}
	if n < 100 {
		t.Fatalf("walked only %d format characters", n)
	}
}

func TestCleanLinesKeepsLineBreaks(t *testing.T) {
	got := CleanLines("unable to open \"a\u202eb\":\n  permission denied\x1b")
	want := "unable to open \"a\\u202eb\":\n  permission denied\\x1b"
	if got != want {
		t.Fatalf("CleanLines = %q, want %q", got, want)
	}
	var b strings.Builder
	if n, err := (CleanWriter{&b}).Write([]byte("x\u2066y\n")); err != nil || n != len("x\u2066y\n") {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if b.String() != "x\\u2066y\n" {
		t.Fatalf("CleanWriter wrote %q", b.String())
	}
}

// TestEscapeJSONKeepsTheValue: the JSON log escapes format characters,
// and what it wrote still decodes to the original string.
func TestEscapeJSONKeepsTheValue(t *testing.T) {
	for in := range cleanCases {
		if !utf8.ValidString(in) {
			continue
		}
		raw, err := json.Marshal(map[string]string{"path": in})
		if err != nil {
			t.Fatal(err)
		}
		esc := EscapeJSON(raw)
		if bytes.ContainsFunc(esc, Hidden) {
			t.Errorf("EscapeJSON(%s) = %s kept a hidden character", raw, esc)
		}
		var back map[string]string
		if err := json.Unmarshal(esc, &back); err != nil || back["path"] != in {
			t.Errorf("EscapeJSON(%s) = %s decodes to %q, %v; want %q", raw, esc, back["path"], err, in)
		}
	}
}

// TestStatusNotesUnwatchedDirectories: a continuous job at the inotify
// watch limit says so under the table, with the sysctl to raise it and
// how its changes are synced meanwhile.
func TestStatusNotesUnwatchedDirectories(t *testing.T) {
	j := agent.JobStatus{Name: "photos", State: agent.Idle, Mode: config.Continuous, NextPass: now.Add(time.Minute),
		Unwatched: &agent.Unwatched{Dirs: 120, Dir: "/home/ann/photos/2019", Limit: true, Err: "no space left on device",
			Fix: "raise it with: sysctl fs.inotify.max_user_watches=1048576", Every: 5 * time.Minute}}
	var b bytes.Buffer
	if err := Status(&b, []agent.JobStatus{j}, now, false); err != nil {
		t.Fatal(err)
	}
	want := "\nphotos: 120 directories cannot be watched (the inotify watch limit is reached), so changes below them are synced by a pass every 5m00s rather than at once\n" +
		"  - raise it with: sysctl fs.inotify.max_user_watches=1048576\n"
	if !strings.HasSuffix(b.String(), want) {
		t.Fatalf("status:\n%s\nwant it to end with:\n%s", b.String(), want)
	}
}

// TestLastSaysAPassWasScoped: a continuous job's pass over the changed
// paths only says so, with how many; a whole pass's line is unchanged.
func TestLastSaysAPassWasScoped(t *testing.T) {
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	rec := snapshot.PassRecord{Start: now.Add(-time.Minute), End: now.Add(-time.Minute), Created: 1, Bytes: 10}
	whole := last(agent.JobStatus{Last: &rec}, now)
	if strings.Contains(whole, "scoped") {
		t.Fatalf("a whole pass reads %q", whole)
	}
	rec.Scoped = 2
	if got := last(agent.JobStatus{Last: &rec}, now); got != whole+", scoped to 2 changed paths" {
		t.Fatalf("a scoped pass reads %q", got)
	}
}

// TestFilesSaySoFar: a first sync's totals grow batch by batch; the
// files count says they are a floor.
func TestFilesSaySoFar(t *testing.T) {
	for _, c := range []struct {
		p    agent.Progress
		want string
	}{
		{agent.Progress{FilesDone: 3, FilesTotal: 10}, "3/10"},
		{agent.Progress{FilesDone: 3, FilesTotal: 10, SoFar: true}, "3/10+"},
	} {
		if got := Files(c.p); got != c.want {
			t.Errorf("Files(%+v) = %q, want %q", c.p, got, c.want)
		}
	}
}
