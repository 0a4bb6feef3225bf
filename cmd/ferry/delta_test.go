package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/service/render"
)

// deltaEdits are the edits a block delta must carry as a fraction of the
// file: each returns the new content from the old.
var deltaEdits = []struct {
	name string
	edit func(old []byte) []byte
}{
	{"append", func(b []byte) []byte { return append(b, 'x') }},
	{"insert", func(b []byte) []byte {
		mid := len(b) / 2
		return append(append(append([]byte(nil), b[:mid]...), []byte(strings.Repeat("inserted", 128))...), b[mid:]...)
	}},
	{"overwrite", func(b []byte) []byte {
		mid := len(b) / 2
		out := append([]byte(nil), b...)
		for i := mid; i < mid+64<<10; i++ {
			out[i] ^= 0x5a
		}
		return out
	}},
	{"truncate", func(b []byte) []byte { return b[:len(b)-300<<10] }},
}

// sentRe reads what a summary says was in sync and sent.
var sentRe = regexp.MustCompile(`, ([0-9.]+ [KMG]?i?B) in sync, ([0-9.]+ [KMG]?i?B) sent`)

// editAndSync applies edit to the file at from, syncs, and checks that
// the other side's copy at to is byte-exact and that the summary tells
// the whole file in sync and at most maxSent bytes sent.
func editAndSync(t *testing.T, ctx context.Context, cfgPath, from, to string, edit func([]byte) []byte, maxSent int64) string {
	t.Helper()
	old, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	next := edit(old)
	if err := os.WriteFile(from, next, 0o644); err != nil {
		t.Fatal(err)
	}
	out := syncOnce(t, ctx, cfgPath)
	sameBytes(t, from, to)
	m := sentRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("summary does not tell bytes in sync from bytes sent:\n%s", out)
	}
	if m[1] != render.Size(int64(len(next))) {
		t.Errorf("summary says %s in sync, want %s:\n%s", m[1], render.Size(int64(len(next))), out)
	}
	if sent := parseSize(t, m[2]); sent > maxSent {
		t.Errorf("summary says %s sent for a %d-byte file, want at most %d:\n%s", m[2], len(next), maxSent, out)
	}
	return out
}

func parseSize(t *testing.T, s string) int64 {
	t.Helper()
	var v float64
	var unit string
	if _, err := fmt.Sscanf(s, "%g %s", &v, &unit); err != nil {
		t.Fatalf("size %q: %v", s, err)
	}
	mult := map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[unit]
	if mult == 0 {
		t.Fatalf("size %q: unknown unit", s)
	}
	return int64(v * mult)
}

// TestDeltaThroughServe: through a real `ferry serve` over UDP, an append,
// a 1 KiB insert in the middle, a 64 KiB overwrite and a truncation of an
// 8 MiB file, made on either side, land byte-exact while the summary tells
// the whole file in sync and only a small part of it sent.
func TestDeltaThroughServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	const size = 8 << 20
	writeBig(t, filepath.Join(s.local, "big.bin"), size)
	cfgPath := s.jobs(t, "    direction: two-way\n")
	syncOnce(t, ctx, cfgPath)
	local, served := filepath.Join(s.local, "big.bin"), filepath.Join(s.served, "big.bin")
	sameBytes(t, local, served)
	for _, e := range deltaEdits {
		t.Run("up/"+e.name, func(t *testing.T) { editAndSync(t, ctx, cfgPath, local, served, e.edit, size/16) })
		t.Run("down/"+e.name, func(t *testing.T) { editAndSync(t, ctx, cfgPath, served, local, e.edit, size/16) })
	}
}

// TestDeltaLocalFolderRemote: the same edits to a job whose remote is a
// local folder (a NAS mount) write only what changed.
func TestDeltaLocalFolderRemote(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	local, remote := filepath.Join(dir, "local"), filepath.Join(dir, "nas")
	for _, d := range []string{local, remote} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const size = 8 << 20
	writeBig(t, filepath.Join(local, "big.bin"), size)
	cfgPath := filepath.Join(dir, "jobs.yaml")
	write(t, cfgPath, fmt.Sprintf("state_dir: %s\njobs:\n  - name: j\n    local: %s\n    remote: %s\n    direction: two-way\n", filepath.Join(dir, "state"), local, remote))
	syncOnce(t, ctx, cfgPath)
	a, b := filepath.Join(local, "big.bin"), filepath.Join(remote, "big.bin")
	for _, e := range deltaEdits {
		t.Run("up/"+e.name, func(t *testing.T) { editAndSync(t, ctx, cfgPath, a, b, e.edit, size/16) })
		t.Run("down/"+e.name, func(t *testing.T) { editAndSync(t, ctx, cfgPath, b, a, e.edit, size/16) })
	}
}

// TestRenamePlusEditThroughServe: a file renamed (and moved) and edited
// on one side reaches the other as a rename of its old version there and
// a block delta onto it: through a real `ferry serve`, both ways, the
// summary tells one rename, one update and little sent.
func TestRenamePlusEditThroughServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := startServedJob(t, ctx)
	const size = 8 << 20
	writeBig(t, filepath.Join(s.local, "report.bin"), size)
	cfgPath := s.jobs(t, "    direction: two-way\n")
	syncOnce(t, ctx, cfgPath)
	steps := []struct {
		name     string
		from, to string // the side edited, and the other
		old, new string
	}{
		{"up", s.local, s.served, "report.bin", "archive/report.bin"},
		{"down", s.served, s.local, "archive/report.bin", "archive/report-v2.bin"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			mv(t, filepath.Join(st.from, st.old), filepath.Join(st.from, st.new))
			out := editAndSync(t, ctx, cfgPath, filepath.Join(st.from, st.new), filepath.Join(st.to, st.new), deltaEdits[1].edit, size/16)
			if !strings.Contains(out, "updated 1, renamed 1, copied 0, deleted 0") {
				t.Fatalf("summary does not tell a rename and an update:\n%s", out)
			}
			if _, err := os.Stat(filepath.Join(st.to, st.old)); !os.IsNotExist(err) {
				t.Fatalf("the old name is still on the other side: %v", err)
			}
		})
	}
}

// TestNewFileFromChunksTheReceiverHolds: a new file made by copying a big
// file and editing the copy shares almost all its chunks with a file the
// receiving side holds; it is built there from that file's chunks and
// only the rest is sent, over UDP, over the SSH stream, and to a
// local-folder remote.
func TestNewFileFromChunksTheReceiverHolds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const size = 8 << 20
	for _, kind := range []string{"udp", "tcp", "local"} {
		t.Run(kind, func(t *testing.T) {
			var cfgPath, local, remote string
			if kind == "local" {
				dir := t.TempDir()
				local, remote = filepath.Join(dir, "local"), filepath.Join(dir, "nas")
				for _, d := range []string{local, remote} {
					if err := os.MkdirAll(d, 0o755); err != nil {
						t.Fatal(err)
					}
				}
				cfgPath = filepath.Join(dir, "jobs.yaml")
				write(t, cfgPath, fmt.Sprintf("state_dir: %s\njobs:\n  - name: j\n    local: %s\n    remote: %s\n    direction: local-to-remote\n", filepath.Join(dir, "state"), local, remote))
			} else {
				s := startServedJob(t, ctx)
				local, remote = s.local, s.served
				cfgPath = s.jobs(t, "    direction: local-to-remote\n")
				if kind == "tcp" {
					b, _ := os.ReadFile(cfgPath)
					write(t, cfgPath, strings.Replace(string(b), "transport: udp", "transport: tcp", 1))
				}
			}
			writeBig(t, filepath.Join(local, "video.bin"), size)
			syncOnce(t, ctx, cfgPath)
			// A pass that changes nothing lets the receiver's scan keep the
			// list of the file it received.
			syncOnce(t, ctx, cfgPath)
			b, err := os.ReadFile(filepath.Join(local, "video.bin"))
			if err != nil {
				t.Fatal(err)
			}
			edited := deltaEdits[1].edit(b)
			if err := os.WriteFile(filepath.Join(local, "video-cut.bin"), edited, 0o644); err != nil {
				t.Fatal(err)
			}
			out := syncOnce(t, ctx, cfgPath)
			sameBytes(t, filepath.Join(local, "video-cut.bin"), filepath.Join(remote, "video-cut.bin"))
			m := sentRe.FindStringSubmatch(out)
			if m == nil || !strings.Contains(out, "created 1,") {
				t.Fatalf("summary does not tell one new file, in sync and sent:\n%s", out)
			}
			if sent := parseSize(t, m[2]); sent > size/16 {
				t.Fatalf("a copy-and-edit of a file the receiver holds sent %s:\n%s", m[2], out)
			}
		})
	}
}

// TestNewFileFromChunksTheAgentHolds: the same the other way: a copy-and-
// edit made on the server is built on the agent's side from the file it
// holds, over UDP and over the SSH stream.
func TestNewFileFromChunksTheAgentHolds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const size = 8 << 20
	for _, kind := range []string{"udp", "tcp"} {
		t.Run(kind, func(t *testing.T) {
			s := startServedJob(t, ctx)
			cfgPath := s.jobs(t, "    direction: remote-to-local\n")
			if kind == "tcp" {
				b, _ := os.ReadFile(cfgPath)
				write(t, cfgPath, strings.Replace(string(b), "transport: udp", "transport: tcp", 1))
			}
			writeBig(t, filepath.Join(s.served, "video.bin"), size)
			syncOnce(t, ctx, cfgPath)
			syncOnce(t, ctx, cfgPath) // the agent's scan keeps the received file's list
			b, err := os.ReadFile(filepath.Join(s.served, "video.bin"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(s.served, "video-cut.bin"), deltaEdits[1].edit(b), 0o644); err != nil {
				t.Fatal(err)
			}
			out := syncOnce(t, ctx, cfgPath)
			sameBytes(t, filepath.Join(s.served, "video-cut.bin"), filepath.Join(s.local, "video-cut.bin"))
			m := sentRe.FindStringSubmatch(out)
			if m == nil || !strings.Contains(out, "created 1,") {
				t.Fatalf("summary does not tell one new file, in sync and sent:\n%s", out)
			}
			if sent := parseSize(t, m[2]); sent > size/16 {
				t.Fatalf("a copy-and-edit of a file the agent holds sent %s:\n%s", m[2], out)
			}
		})
	}
}
