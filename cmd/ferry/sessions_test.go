package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// syncJSON runs `ferry sync --json` of job j and returns its pass bytes
// and the transport's session count.
func syncJSON(t *testing.T, ctx context.Context, cfgPath string) (bytesSent int64, sessions int) {
	t.Helper()
	code, out, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--json", "--config", cfgPath, "j")
	var doc struct {
		Pass struct {
			Bytes    int64 `json:"bytes"`
			Problems int   `json:"problems"`
		} `json:"pass"`
		Transport *struct {
			UDP      bool `json:"udp"`
			Sessions int  `json:"sessions"`
		} `json:"transport"`
	}
	decodeDoc(t, "sync --json", out, &doc, "transport.sessions")
	if code != exitOK || doc.Pass.Problems != 0 || doc.Transport == nil || !doc.Transport.UDP {
		t.Fatalf("ferry sync --json: exit %d\n%s\n%s", code, out, stderr)
	}
	return doc.Pass.Bytes, doc.Transport.Sessions
}

func sameFile(t *testing.T, got, want string) {
	t.Helper()
	a, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("%s: %d bytes, not the same as %s (%d bytes)", got, len(a), want, len(b))
	}
}

// TestFourSessionsThroughServe: a job with sessions: 4 and files split
// from 1 MiB moves a tree with several large files to a real ferry serve
// and another back, byte-exact, over four UDP sessions each way (the
// JSON's transport.sessions, and four lanes in the server's log).
func TestFourSessionsThroughServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	cfgPath := s.jobs(t, "    direction: two-way\n    sessions: 4\n    multi_session_threshold: 1MiB\n")
	up := map[string]int{"big/a.iso": 9<<20 + 333, "big/b.bin": 3 << 20, "c.bin": 1 << 20, "small/x.txt": 1000, "small/y.txt": 0, "d.bin": 2<<20 + 1}
	for p, n := range up {
		mkdirs(t, filepath.Dir(filepath.Join(s.local, p)))
		writeBig(t, filepath.Join(s.local, p), n)
	}
	if _, n := syncJSON(t, ctx, cfgPath); n != 4 {
		t.Errorf("upload ran on %d sessions, want 4", n)
	}
	for p := range up {
		sameFile(t, filepath.Join(s.served, p), filepath.Join(s.local, p))
	}
	down := map[string]int{"from-server/e.iso": 7<<20 + 5, "from-server/f.bin": 4 << 20, "g.txt": 77}
	for p, n := range down {
		mkdirs(t, filepath.Dir(filepath.Join(s.served, p)))
		writeBig(t, filepath.Join(s.served, p), n)
	}
	if _, n := syncJSON(t, ctx, cfgPath); n != 4 {
		t.Errorf("download ran on %d sessions, want 4", n)
	}
	for p := range down {
		sameFile(t, filepath.Join(s.local, p), filepath.Join(s.served, p))
	}
	log, err := os.ReadFile(filepath.Join(s.dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"upload", "download"} {
		lanes := 0
		for _, line := range strings.Split(string(log), "\n") {
			if strings.Contains(line, "data session ended") && strings.Contains(line, "direction="+dir) && strings.Contains(line, "lanes=4") {
				lanes++
			}
		}
		if lanes != 4 {
			t.Errorf("server log shows %d %s sessions of 4 lanes, want 4:\n%s", lanes, dir, log)
		}
	}
}

// TestSessionsOutOfRangeIsAConfigError: sessions: 17 is refused before
// anything runs, naming the job and the field.
func TestSessionsOutOfRangeIsAConfigError(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "jobs.yaml")
	write(t, cfgPath, fmt.Sprintf("state_dir: %s\njobs:\n  - name: films\n    local: %s\n    remote: ferry://me@127.0.0.1:1/films\n    sessions: 17\n",
		filepath.Join(dir, "state"), filepath.Join(dir, "local")))
	code, out, stderr := runCLI(t, context.Background(), "sync", "--config", cfgPath, "films")
	if code != exitConfig || !strings.Contains(stderr, `jobs[0].sessions: job "films" asks for 17 data sessions; it must be between 1 and 16`) {
		t.Fatalf("sessions: 17: exit %d\n%s\n%s", code, out, stderr)
	}
}

// TestHugeThresholdIsTooLargeNotNegative: a multi_session_threshold past
// what a size holds is refused as too large, naming file, line and field;
// it was called "not a size of at least 0 bytes", which it is.
func TestHugeThresholdIsTooLargeNotNegative(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "jobs.yaml")
	write(t, cfgPath, fmt.Sprintf("state_dir: %s\njobs:\n  - name: films\n    local: %s\n    remote: ferry://me@127.0.0.1:1/films\n    multi_session_threshold: 99999999999999999999GiB\n",
		filepath.Join(dir, "state"), filepath.Join(dir, "local")))
	code, out, stderr := runCLI(t, context.Background(), "sync", "--config", cfgPath, "films")
	want := cfgPath + `:6: jobs[0].multi_session_threshold: "99999999999999999999GiB" is too large: a size is at most 4194304TiB`
	if code != exitConfig || !strings.Contains(stderr, want) || strings.Contains(stderr, "at least 0 bytes") {
		t.Fatalf("huge threshold: exit %d, want %d and %q\n%s\n%s", code, exitConfig, want, out, stderr)
	}
}

// TestKilledSplitTransferResumesItsParts: `ferry sync` (its own process)
// killed with SIGKILL while four sessions upload (or download) a split
// file leaves the receiving side a partial with the ranges they wrote; the
// next sync completes the file byte-exact and sends less than the whole of
// it.
func TestKilledSplitTransferResumesItsParts(t *testing.T) {
	t.Run("upload", func(t *testing.T) { killSplitTransfer(t, true) })
	t.Run("download", func(t *testing.T) { killSplitTransfer(t, false) })
}

func killSplitTransfer(t *testing.T, upload bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	const size = 24 << 20
	from, to, job := s.local, s.served, "    direction: local-to-remote\n    sessions: 4\n    multi_session_threshold: 1MiB\n"
	capKey := "upload"
	if !upload {
		from, to, job, capKey = s.served, s.local, "    direction: remote-to-local\n    sessions: 4\n    multi_session_threshold: 1MiB\n", "download"
	}
	big := filepath.Join(from, "film.mkv")
	writeBig(t, big, size)
	// 32 Mbit/s: about 6 s for the whole file, so the kill lands in the
	// middle.
	slow := s.jobs(t, job+"    bandwidth: {"+capKey+": 32Mbps}\n")
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "sync", "--accept-new-host-key", "--config", slow, "j")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// The receivers checkpoint every 2 s: kill once the served partial's
	// checkpoint names half the file.
	ckpt := filepath.Join(to, "film.mkv.partial.ferry-ckpt")
	deadline := time.After(60 * time.Second)
	var atKill int64
	for {
		if atKill = checkpointed(ckpt); atKill >= size/2 {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("ferry sync ended before the kill (%v):\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("no checkpoint of the split upload within 60 s:\n%s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	if _, err := os.Stat(filepath.Join(to, "film.mkv")); err == nil {
		t.Fatal("the file was committed before the kill; nothing to resume")
	}
	fast := s.jobs(t, job)
	// The server notices the lost connection and lets go of the partial
	// on its own time: a sync before then finds it locked, and the next
	// one resumes it. Bounded.
	var sent int64
	for i := 0; ; i++ {
		code, o, stderr := runCLI(t, ctx, "sync", "--accept-new-host-key", "--json", "--config", fast, "j")
		var doc struct {
			Pass struct {
				Bytes int64 `json:"bytes"`
			} `json:"pass"`
		}
		if err := json.Unmarshal([]byte(o), &doc); err != nil {
			t.Fatalf("sync --json: %v\n%s", err, o)
		}
		sent += doc.Pass.Bytes
		if code == exitOK {
			break
		}
		if i == 5 {
			t.Fatalf("resumed sync: exit %d\n%s\n%s", code, o, stderr)
		}
		time.Sleep(500 * time.Millisecond)
	}
	sameFile(t, filepath.Join(to, "film.mkv"), big)
	t.Logf("after the kill with %d bytes checkpointed, the resumed sync sent %d of %d bytes", atKill, sent, size)
	// At most each part's unfinished resume chunk is sent again.
	if sent >= size || sent > size-atKill+4<<20 {
		t.Fatalf("the resumed sync sent %d bytes of a %d-byte file: the ranges written before the kill were sent again", sent, size)
	}
}

// checkpointed is how many bytes a data-session checkpoint (transport/
// data's FCK1 format: magic, size, hash, count, then ranges) at path says
// were written; 0 if there is none.
func checkpointed(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 24 || string(b[:4]) != "FCK1" {
		return 0
	}
	n := int(binary.BigEndian.Uint32(b[20:]))
	var total int64
	for i := 0; i < n && 24+16*(i+1) <= len(b); i++ {
		total += int64(binary.BigEndian.Uint64(b[32+16*i:]) - binary.BigEndian.Uint64(b[24+16*i:]))
	}
	return total
}
