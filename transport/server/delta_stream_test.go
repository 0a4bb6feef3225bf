package server

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/tree"
)

// rawDeltaCreate sends a Create carrying a chunk list, then the Data frames
// fill returns for the ranges the server says it holds, then Commit. It
// returns those ranges and the commit's result.
func rawDeltaCreate(t *testing.T, c *ssh.Client, m control.Create, fill func(held []chunk.Range) []control.Data) ([]chunk.Range, error) {
	t.Helper()
	ch, reqs, err := c.OpenChannel(control.ChannelType, control.Append(nil, m))
	if err != nil {
		return nil, err
	}
	go ssh.DiscardRequests(reqs)
	defer ch.Close()
	ans, _, err := control.ReadFrame(ch, nil)
	if err != nil {
		return nil, err
	}
	if e, ok := ans.(control.Error); ok {
		return nil, e.Err()
	}
	created, ok := ans.(control.Created)
	if !ok {
		t.Fatalf("Create answered with %T", ans)
	}
	held := created.Held
	for _, d := range fill(held) {
		if _, err := ch.Write(control.Append(nil, d)); err != nil {
			return held, err
		}
	}
	if _, err := ch.Write(control.Append(nil, control.Commit{})); err != nil {
		return held, err
	}
	ans, _, err = control.ReadFrame(ch, nil)
	if err != nil {
		return held, err
	}
	if e, ok := ans.(control.Error); ok {
		return held, e.Err()
	}
	if _, ok := ans.(control.OK); !ok {
		t.Fatalf("Commit answered with %T", ans)
	}
	return held, nil
}

func listOf(t *testing.T, b []byte) chunk.List {
	t.Helper()
	c, ok := chunk.New(int64(len(b)), nil)
	if !ok {
		t.Fatalf("no chunk list for %d bytes", len(b))
	}
	c.Write(b)
	l, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// gapsOf returns the ranges of [0, size) that held does not cover.
func gapsOf(held []chunk.Range, size int64) []chunk.Range {
	var out []chunk.Range
	at := int64(0)
	for _, h := range held {
		if h.Off > at {
			out = append(out, chunk.Range{Off: at, Len: h.Off - at})
		}
		at = h.Off + h.Len
	}
	if at < size {
		out = append(out, chunk.Range{Off: at, Len: size - at})
	}
	return out
}

// frames cuts the bytes of rs out of content into Data frames.
func frames(content []byte, rs []chunk.Range) []control.Data {
	var out []control.Data
	for _, r := range rs {
		for off := r.Off; off < r.Off+r.Len; {
			n := min(int64(control.MaxData), r.Off+r.Len-off)
			out = append(out, control.Data{Off: off, Data: content[off : off+n]})
			off += n
		}
	}
	return out
}

// TestHostileDeltaCreateNeverCommitsAWrongFile: a Create whose chunk list
// lies (sums that match nothing, or the old version's list for new
// content), or whose sender fills the gaps with wrong bytes, ends in
// ErrHashMismatch and leaves the server's file as it was; an honest one
// sends only the gaps and lands byte-exact.
func TestHostileDeltaCreateNeverCommitsAWrongFile(t *testing.T) {
	ts := startServer(t, nil)
	const size = 2 << 20
	r := rand.New(rand.NewPCG(7, 7)) // content only
	old := make([]byte, size)
	for i := range old {
		old[i] = byte(r.Uint32())
	}
	path := filepath.Join(ts.root, "f")
	if err := os.WriteFile(path, old, 0o644); err != nil {
		t.Fatal(err)
	}
	next := bytes.Clone(old)
	for i := size / 2; i < size/2+64<<10; i++ {
		next[i] ^= 0x5a
	}
	c := ts.hello(t, "")
	st, err := rawCall(t, c, control.Stat{Path: "f"})
	if err != nil {
		t.Fatal(err)
	}
	exp := st.(control.EntryMsg).Entry
	meta := tree.Entry{Path: "f", Kind: tree.File, Size: size, Mode: 0o644, Mtime: 1, Hash: xxhash.Sum64(next)}
	if !endpoint.DeltaCandidate(endpoint.Transfer{Source: meta, Expect: exp}) {
		t.Fatalf("not a delta candidate: %+v over %+v", meta, exp)
	}
	garbled := listOf(t, next)
	garbled.Chunks = append([]chunk.Chunk(nil), garbled.Chunks...)
	for i := range garbled.Chunks {
		garbled.Chunks[i].Sum[0] ^= 0xff
	}
	cases := []struct {
		name     string
		list     chunk.List
		fill     func(held []chunk.Range) []control.Data
		wantHeld bool
	}{
		// The sender claims the server holds everything.
		{"sums that match nothing", garbled, func([]chunk.Range) []control.Data { return nil }, false},
		{"the old version's list for new content", listOf(t, old), func(held []chunk.Range) []control.Data {
			return frames(next, gapsOf(held, size))
		}, true},
		{"wrong bytes in the gaps", listOf(t, next), func(held []chunk.Range) []control.Data {
			bad := bytes.Clone(next)
			for i := range bad {
				bad[i] ^= 1
			}
			return frames(bad, gapsOf(held, size))
		}, true},
	}
	for _, tc := range cases {
		held, err := rawDeltaCreate(t, c, control.Create{Meta: meta, Expect: exp, List: tc.list}, tc.fill)
		if !errors.Is(err, endpoint.ErrHashMismatch) {
			t.Errorf("%s: %v, want ErrHashMismatch", tc.name, err)
		}
		if got := len(held) > 0; got != tc.wantHeld {
			t.Errorf("%s: server held %v", tc.name, held)
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, old) {
			t.Fatalf("%s: the server's file changed (err %v)", tc.name, err)
		}
	}

	var sent int64
	held, err := rawDeltaCreate(t, c, control.Create{Meta: meta, Expect: exp, List: listOf(t, next)}, func(held []chunk.Range) []control.Data {
		fs := frames(next, gapsOf(held, size))
		for _, d := range fs {
			sent += int64(len(d.Data))
		}
		return fs
	})
	if err != nil {
		t.Fatalf("honest delta: %v", err)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, next) {
		t.Fatalf("honest delta: the server's file is not the new version (err %v)", err)
	}
	if sent > size/4 || chunk.Bytes(held)+sent != size {
		t.Fatalf("honest delta: held %d and sent %d bytes of %d", chunk.Bytes(held), sent, size)
	}
}

// TestGetRangesStreamsOnlyThoseAndRefusesHostileOnes: Get with Ranges
// streams exactly those bytes, in order; ranges past the end, or beside
// an offset, are a protocol error.
func TestGetRangesStreamsOnlyThoseAndRefusesHostileOnes(t *testing.T) {
	ts := startServer(t, nil)
	content := make([]byte, 600<<10)
	for i := range content {
		content[i] = byte(i * 7)
	}
	if err := os.WriteFile(filepath.Join(ts.root, "g"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	c := ts.hello(t, "")
	st, err := rawCall(t, c, control.Stat{Path: "g"})
	if err != nil {
		t.Fatal(err)
	}
	exp := st.(control.EntryMsg).Entry
	want := []chunk.Range{{Off: 10, Len: 5}, {Off: 100 << 10, Len: 300 << 10}, {Off: int64(len(content)) - 1, Len: 1}}
	ch, reqs, err := c.OpenChannel(control.ChannelType, control.Append(nil, control.Get{Path: "g", Expect: exp, Ranges: want}))
	if err != nil {
		t.Fatal(err)
	}
	go ssh.DiscardRequests(reqs)
	defer ch.Close()
	var got []control.Data
	for {
		m, _, err := control.ReadFrame(ch, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.(control.OK); ok {
			break
		}
		if d, ok := m.(control.Data); ok {
			got = append(got, control.Data{Off: d.Off, Data: bytes.Clone(d.Data)})
			continue
		}
		if _, ok := m.(control.Opened); !ok {
			t.Fatalf("Get answered with %T", m)
		}
	}
	if wantFrames := frames(content, want); len(got) != len(wantFrames) {
		t.Fatalf("got %d frames, want %d", len(got), len(wantFrames))
	} else {
		for i := range got {
			if got[i].Off != wantFrames[i].Off || !bytes.Equal(got[i].Data, wantFrames[i].Data) {
				t.Fatalf("frame %d: %d+%d, want %d+%d", i, got[i].Off, len(got[i].Data), wantFrames[i].Off, len(wantFrames[i].Data))
			}
		}
	}
	for name, g := range map[string]control.Get{
		"past the end":        {Path: "g", Expect: exp, Ranges: []chunk.Range{{Off: int64(len(content)) - 1, Len: 2}}},
		"ranges and offset":   {Path: "g", Offset: 1, Expect: exp, Ranges: []chunk.Range{{Off: 5, Len: 2}}},
		"past the end, blind": {Path: "g", Ranges: []chunk.Range{{Off: 1 << 30, Len: 1}}},
	} {
		if _, err := rawCall(t, c, g); !errors.Is(err, control.ErrProtocol) {
			t.Errorf("%s: %v, want ErrProtocol", name, err)
		}
	}
}
