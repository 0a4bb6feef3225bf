package data

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/endpoint"
)

// A file scanned unhashed (Entry.Hash 0) is hashed by SendFile.Hash from
// the reader Open gave, before it is announced: the FILE packet carries
// that hash, the receiver verifies it at Commit (memWriter checks it), and
// a file whose hash cannot be made fails unannounced while the rest go.
func TestSenderHashesFilesScannedUnhashed(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 41))
	src, order := randomFiles(r, []int{0, 1, 1335, 10 << 10, 64<<10 + 3, 700 << 10, 10 << 10})
	files := sendFiles(src, order)
	bad := order[len(order)-1]
	errChanged := endpoint.ErrChanged
	var hashed int
	for i := range files {
		files[i].Entry.Hash = 0
		p := order[i]
		files[i].Hash = func(rd endpoint.FileReader) (uint64, error) {
			hashed++ // the opener calls it, one file at a time
			if p == bad {
				return 0, errChanged
			}
			b, err := io.ReadAll(io.NewSectionReader(rd, 0, rd.Size()))
			if err != nil {
				return 0, err
			}
			return xxhash.Sum64(b), nil
		}
	}
	sc, rc := udpPair(t)
	st := newStore()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := runSession(t, ctx, testConfig(r), sc, rc, files, st)
	if out.sendErr != nil || out.recvErr != nil {
		t.Fatalf("session: send %v, receive %v", out.sendErr, out.recvErr)
	}
	if hashed != len(files) {
		t.Errorf("Hash called %d times, want once a file (%d)", hashed, len(files))
	}
	for i, err := range out.sendErrs {
		switch p := order[i]; {
		case p == bad && !errors.Is(err, endpoint.ErrChanged):
			t.Errorf("%s: err %v, want ErrChanged from its Hash", p, err)
		case p != bad && err != nil:
			t.Errorf("%s: %v", p, err)
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.opened[bad] != 0 {
		t.Errorf("%s, whose hash failed, was announced (opened %d times at the receiver)", bad, st.opened[bad])
	}
	for _, p := range order[:len(order)-1] {
		if got, ok := st.final[p]; !ok || string(got) != string(src[p]) {
			t.Errorf("%s: delivered %d bytes (present %v), want %d identical bytes", p, len(got), ok, len(src[p]))
		}
	}
	for _, res := range out.results {
		if want := xxhash.Sum64(src[res.File.Path]); res.File.Path != bad && res.File.Hash != want {
			t.Errorf("%s: announced with hash %x, want %x", res.File.Path, res.File.Hash, want)
		}
	}
}
