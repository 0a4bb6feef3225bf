package data

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// seedWith is a Seed that writes content's bytes of each range into the
// partial and claims them, counting its calls.
func seedWith(content []byte, ranges []chunk.Range, calls *int) func(context.Context, FileInfo, endpoint.FileWriter) ([]chunk.Range, error) {
	return func(_ context.Context, f FileInfo, w endpoint.FileWriter) ([]chunk.Range, error) {
		*calls++ // called off the loop, one file: no race within a test
		for _, r := range ranges {
			if _, err := w.WriteAt(content[r.Off:r.Off+r.Len], r.Off); err != nil {
				return nil, err
			}
		}
		return ranges, nil
	}
}

// TestSeedSendsOnlyTheGaps: a file the receiver seeds with the right bytes
// for most of its length arrives byte-exact with only the rest sent, and
// the seeded bytes are counted as resumed (reused), not sent.
func TestSeedSendsOnlyTheGaps(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 21))
	const size = 6<<20 + 777
	src, order := randomFiles(r, []int{size})
	content := src[order[0]]
	held := []chunk.Range{{Off: 0, Len: 3 << 20}, {Off: 3<<20 + 100<<10, Len: size - (3<<20 + 100<<10)}}
	cfg := testConfig(r)
	var calls int
	cfg.Seed = seedWith(content, held, &calls)
	st := newStore()
	sc, rc := udpPair(t)
	out := runSession(t, context.Background(), cfg, sc, rc, sendFiles(src, order), st)
	checkDelivered(t, out, src, order, st)
	if calls != 1 {
		t.Fatalf("Seed called %d times, want once", calls)
	}
	gap := int64(size) - chunk.Bytes(held)
	cs := SeedChunkSize(size)
	if sent := int64(out.snd.PayloadBytes); sent > gap+2*cs {
		t.Fatalf("sent %d payload bytes for a %d-byte gap (chunks of %d)", sent, gap, cs)
	}
	if out.snd.ResumedBytes < uint64(chunk.Bytes(held)-2*cs) {
		t.Fatalf("resumed %d bytes of %d seeded", out.snd.ResumedBytes, chunk.Bytes(held))
	}
}

// TestSeedWithWrongBytesStillArrivesRight: a Seed that claims ranges it
// filled with the wrong bytes (a hostile or mistaken chunk list) costs
// bytes, never correctness: the sender finds the offered chunks do not
// match and sends them.
func TestSeedWithWrongBytesStillArrivesRight(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 22))
	const size = 3 << 20
	src, order := randomFiles(r, []int{size})
	wrong := bytes.Repeat([]byte{0xAA}, size)
	cfg := testConfig(r)
	var calls int
	cfg.Seed = seedWith(wrong, []chunk.Range{{Off: 0, Len: size}}, &calls)
	st := newStore()
	sc, rc := udpPair(t)
	out := runSession(t, context.Background(), cfg, sc, rc, sendFiles(src, order), st)
	checkDelivered(t, out, src, order, st)
	if out.snd.ResumedBytes != 0 {
		t.Fatalf("sender took %d wrong seeded bytes as held", out.snd.ResumedBytes)
	}
}

// TestSeedConfirmedByALyingSenderNeverCommits: a sender that confirms
// wrongly seeded chunks (its source has them, but it announces the hash of
// other content) gets a hash mismatch, a fresh retry without seeding, and
// a clean failure: nothing is committed.
func TestSeedConfirmedByALyingSenderNeverCommits(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 23))
	const size = 2 << 20
	src, order := randomFiles(r, []int{size})
	p := order[0]
	claimed := src[p]
	actual := append([]byte(nil), claimed...)
	copy(actual[1<<20:], bytes.Repeat([]byte{0x55}, 256<<10))
	cfg := testConfig(r)
	var calls int
	cfg.Seed = seedWith(actual, []chunk.Range{{Off: 1 << 20, Len: 256 << 10}}, &calls)
	files := []SendFile{{
		Entry: tree.Entry{Path: p, Kind: tree.File, Size: size, Hash: xxhash.Sum64(claimed), Mode: 0o644, Mtime: 1},
		Open:  func() (endpoint.FileReader, error) { return memReader{bytes.NewReader(actual)}, nil },
	}}
	st := newStore()
	sc, rc := udpPair(t)
	out := runSession(t, context.Background(), cfg, sc, rc, files, st)
	if !errors.Is(out.sendErrs[0], endpoint.ErrHashMismatch) {
		t.Fatalf("sender: %v, want ErrHashMismatch", out.sendErrs[0])
	}
	if calls != 1 {
		t.Fatalf("Seed called %d times, want once: the fresh retry must not seed", calls)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.final[p]; ok {
		t.Fatal("a file that does not hash to its announced hash was committed")
	}
}
