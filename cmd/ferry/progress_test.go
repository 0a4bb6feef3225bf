package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/agent"
)

// transferLogBytes returns bytes= of the last transfers.log line for path.
func transferLogBytes(t *testing.T, stateDir, path string) int64 {
	t.Helper()
	f, err := os.Open(filepath.Join(stateDir, "logs", "transfers.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := int64(-1)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasSuffix(l, " path="+strconv.Quote(path)) {
			continue
		}
		for _, w := range strings.Fields(l) {
			if v, ok := strings.CutPrefix(w, "bytes="); ok {
				if got, err = strconv.ParseInt(v, 10, 64); err != nil {
					t.Fatalf("bytes= in %q: %v", l, err)
				}
			}
		}
	}
	if got < 0 {
		t.Fatalf("transfers.log has no line for %s", path)
	}
	return got
}

// TestDownloadProgressIsRightAcrossStopAndResume: a download from a real
// `ferry serve` over UDP shows, in the control API and `ferry monitor`, the
// file's size and the link's target, minimum and round-trip time; a job
// stopped in the middle of it is "stopped", not a failed pass; and once
// resumed from the partial it kept, the job's rate stays near the cap and
// the pass's bytes and transfers.log count only what crossed the link this
// time, not the whole file.
func TestDownloadProgressIsRightAcrossStopAndResume(t *testing.T) {
	testProgressAcrossStopAndResume(t, false)
}

// TestUploadProgressIsRightAcrossStopAndResume is the same for an upload,
// whose partial the server keeps.
func TestUploadProgressIsRightAcrossStopAndResume(t *testing.T) {
	testProgressAcrossStopAndResume(t, true)
}

func testProgressAcrossStopAndResume(t *testing.T, upload bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	const (
		size    = 3 << 20
		capBits = 4_000_000 // 500 kB/s: 6 s for the file
	)
	from, to, extra := s.served, s.local, fmt.Sprintf("    interval: 1h\n    bandwidth: {download: %d, min_rate: 1000000}\n", capBits)
	if upload {
		from, to = s.local, s.served
		extra = fmt.Sprintf("    interval: 1h\n    direction: local-to-remote\n    bandwidth: {upload: %d, min_rate: 1000000}\n", capBits)
	}
	writeBig(t, filepath.Join(from, "big.bin"), size)
	cfgPath := s.jobs(t, extra)
	rj := startRun(t, ctx, cfgPath)

	j := rj.waitFor(t, ctx, "the download moves", func(j agent.JobStatus) bool {
		return len(j.Transfers) == 1 && j.Transfers[0].Done > 0
	})
	tr := j.Transfers[0]
	if tr.Size != size {
		t.Errorf("a file in flight shows size %d, want %d: %+v", tr.Size, size, tr)
	}
	j = rj.waitFor(t, ctx, "the link's figures", func(j agent.JobStatus) bool {
		return len(j.Transfers) == 1 && j.Transfers[0].RTT > 0
	})
	tr = j.Transfers[0]
	if tr.TargetRate != capBits || tr.MinRate != 1_000_000 {
		t.Errorf("target %v and minimum %v in flight, want %d and %d", tr.TargetRate, tr.MinRate, capBits, 1_000_000)
	}
	code, out, stderr := runCLI(t, ctx, "monitor", "--config", cfgPath, "--count", "1")
	if code != exitOK {
		t.Fatalf("monitor: exit %d, %s", code, stderr)
	}
	t.Logf("monitor:\n%s", out)
	if strings.Contains(out, "of 0 B") || !strings.Contains(out, "of 3.0 MiB") {
		t.Errorf("monitor does not show the file's size:\n%s", out)
	}
	if !strings.Contains(out, "4.0 Mbit/s") || !strings.Contains(out, "1.0 Mbit/s") {
		t.Errorf("monitor does not show the target and minimum rate:\n%s", out)
	}

	rj.waitFor(t, ctx, "a third of the file", func(j agent.JobStatus) bool {
		return len(j.Transfers) == 1 && j.Transfers[0].Done >= size/3
	})
	if _, err := rj.c.Stop(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	j, err := rj.c.Job(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	if j.State != agent.Stopped || (j.Last != nil && j.Last.Err != "") {
		t.Errorf("a job stopped during a download shows %q, last pass %+v; want stopped, not failed", j.State, j.Last)
	}
	_, out, _ = runCLI(t, ctx, "status", "--config", cfgPath)
	if strings.Contains(out, "failed") || strings.Contains(out, "context canceled") || !strings.Contains(out, "stopped") {
		t.Errorf("status of a stopped job:\n%s", out)
	}

	if fi, err := os.Stat(filepath.Join(to, "big.bin")); err == nil {
		t.Fatalf("big.bin is complete (%d bytes) before the resume: the job was stopped too late for the test", fi.Size())
	}
	resumed := time.Now()
	if _, err := rj.c.Resume(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	maxRate := 0.0
	j = rj.waitFor(t, ctx, "the resumed pass ends", func(j agent.JobStatus) bool {
		if j.State == agent.Transferring {
			maxRate = max(maxRate, j.Progress.Rate)
		}
		return passAfter(resumed)(j)
	})
	if got := read(t, filepath.Join(to, "big.bin")); len(got) != size {
		t.Fatalf("big.bin has %d bytes after the resumed pass, want %d", len(got), size)
	}
	t.Logf("resumed pass: %+v; highest rate %.0f bit/s", j.Last, maxRate)
	if j.Last.Bytes > size-size/4 {
		t.Errorf("the resumed pass says it sent %d bytes of a %d-byte file it had a third of", j.Last.Bytes, size)
	}
	if n := transferLogBytes(t, filepath.Join(s.dir, "state"), "big.bin"); n > size-size/4 {
		t.Errorf("transfers.log says %d bytes for a %d-byte file resumed from a third", n, size)
	}
	if maxRate > 2*capBits {
		t.Errorf("the resumed pass showed %.0f bit/s under a cap of %d bit/s", maxRate, capBits)
	}
	// The agent kept both passes' rates, second by second, for the page.
	hs, err := rj.c.RateHistory(ctx)
	if err != nil || len(hs) != 1 || len(hs[0].Rates) != agent.HistoryLen {
		t.Fatalf("rate history: %v %+v", err, hs)
	}
	sum, top := 0.0, 0.0
	for _, r := range hs[0].Rates {
		sum, top = sum+r/8, max(top, r)
	}
	if sum < size/2 || sum > 1.5*size || top > 2*capBits {
		t.Errorf("rate history adds up to %.0f bytes (file %d) with a top of %.0f bit/s (cap %d)", sum, size, top, capBits)
	}
}

// TestSyncOnATerminalShowsBytesRateAndETA: `ferry sync` on a terminal,
// through a real `ferry serve`, redraws one line in place with the bytes
// sent of those to send, the rate and the time left, and counts files
// without the directories they are in; on a pipe it writes plain lines.
func TestSyncOnATerminalShowsBytesRateAndETA(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	for _, d := range []string{"a", "a/b", "c"} {
		if err := os.MkdirAll(filepath.Join(s.served, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeBig(t, filepath.Join(s.served, "a/b/one.bin"), 1<<20)
	writeBig(t, filepath.Join(s.served, "c/two.bin"), 1<<20)
	cfgPath := s.jobs(t, "    bandwidth: {download: 8000000}\n") // 1 MB/s: about 2 s

	var out, errs syncBuffer
	code := run(ctx, &env{stdout: &out, stderr: &errs, isTTY: true}, []string{"sync", "--accept-new-host-key", "--config", cfgPath, "j"})
	got := out.String()
	t.Logf("terminal output: %q", got)
	if code != exitOK {
		t.Fatalf("sync: exit %d: %s%s", code, got, errs.String())
	}
	draws := strings.Split(strings.SplitN(got, "\n", 2)[0], "\r")
	if len(draws) < 3 || !strings.Contains(got, "\x1b[K") {
		t.Fatalf("no line redrawn in place (%d draws): %q", len(draws)-1, got)
	}
	final := draws[len(draws)-1]
	if !strings.Contains(final, "2.0 MiB / 2.0 MiB") || !strings.Contains(final, "100%") || !strings.Contains(final, "files 2/2") {
		t.Errorf("last progress line %q, want 2.0 MiB / 2.0 MiB, 100%%, files 2/2 (directories are not files)", final)
	}
	moving := false
	for _, d := range draws {
		if strings.Contains(d, "Mbit/s") && strings.Contains(d, "ETA ") && !strings.Contains(d, "ETA -") && strings.Contains(d, "files 0/2") {
			moving = true
		}
	}
	if !moving {
		t.Errorf("no line showed a rate and a time left while the files moved: %q", got)
	}
	if strings.Contains(got, "/5") {
		t.Errorf("directories counted as files: %q", got)
	}

	// Not a terminal: plain lines, nothing redrawn.
	writeBig(t, filepath.Join(s.served, "c/three.bin"), 64<<10)
	out = syncBuffer{}
	if code := run(ctx, &env{stdout: &out, stderr: &errs}, []string{"sync", "--config", cfgPath, "j"}); code != exitOK {
		t.Fatalf("sync: exit %d: %s", code, out.String())
	}
	if got := out.String(); strings.ContainsAny(got, "\r\x1b") || !strings.Contains(got, "c/three.bin: ok (1/1 files)") {
		t.Errorf("plain output: %q", got)
	}
}

// TestJobWaitingForATransferSlotShowsQueued: with max_concurrent_transfers
// 1, of two jobs downloading from a real `ferry serve` the one whose file
// waits for the slot the other holds is "queued (1 ahead)" in the control
// API and `ferry status`, not "transferring" at 0 bit/s.
func TestJobWaitingForATransferSlotShowsQueued(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	var jobs strings.Builder
	fmt.Fprintf(&jobs, "state_dir: %s\nmax_concurrent_transfers: 1\njobs:\n", filepath.Join(s.dir, "state"))
	for _, name := range []string{"a", "b"} {
		mkdirs(t, filepath.Join(s.local, name), filepath.Join(s.served, name))
		writeBig(t, filepath.Join(s.served, name, name+".bin"), 2<<20)
		fmt.Fprintf(&jobs, "  - name: %s\n    local: %s\n    remote: ferry://tester@127.0.0.1:%d/docs/%s\n    identity: %s\n    transport: udp\n    interval: 1h\n    bandwidth: {download: 4000000}\n",
			name, filepath.Join(s.local, name), s.port, name, s.identity)
	}
	cfgPath := filepath.Join(s.dir, "jobs.yaml")
	write(t, cfgPath, jobs.String())
	rj := startRun(t, ctx, cfgPath)

	deadline := time.Now().Add(time.Minute)
	var moving, queued agent.JobStatus
	for moving.Name == "" || queued.Name == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no job queued behind a moving one within a minute (agent: %s)", rj.stderr.String())
		}
		time.Sleep(20 * time.Millisecond) // polling an outside view, not ordering
		js, err := rj.c.Jobs(ctx)
		if err != nil {
			continue
		}
		moving, queued = agent.JobStatus{}, agent.JobStatus{}
		for _, j := range js {
			switch {
			case j.State == agent.Transferring && len(j.Transfers) > 0:
				moving = j
			case j.State == agent.Queued:
				queued = j
			}
		}
	}
	if queued.Ahead != 1 || len(queued.Transfers) != 0 {
		t.Errorf("queued job %s: %d ahead, %d transfers; want 1 ahead (%s's) and none moving", queued.Name, queued.Ahead, len(queued.Transfers), moving.Name)
	}
	code, out, stderr := runCLI(t, ctx, "status", "--config", cfgPath)
	t.Logf("status:\n%s", out)
	if code != exitOK {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, queued.Name+" ") && (!strings.Contains(l, "queued (1 ahead)") || strings.Contains(l, "0 bit/s")) {
			t.Errorf("status line of the queued job: %q", l)
		}
	}
	for _, n := range []string{"a", "b"} {
		for {
			if fi, err := os.Stat(filepath.Join(s.local, n, n+".bin")); err == nil && fi.Size() == 2<<20 {
				break
			}
			if time.Now().After(deadline.Add(time.Minute)) {
				t.Fatalf("%s.bin did not arrive (agent: %s)", n, rj.stderr.String())
			}
			time.Sleep(50 * time.Millisecond) // polling an outside view, not ordering
		}
	}
}
