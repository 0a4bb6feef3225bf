package data

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/endpoint"
)

// TestSmallFilesAreAnnouncedWhileABigOneSends: files queued behind a file
// bigger than the admission budget are announced (and so created by the
// receiver) while it is still sending, not all at once when it ends.
func TestSmallFilesAreAnnouncedWhileABigOneSends(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 7))
	const bigSize = 2 << 20
	src := map[string][]byte{"big": make([]byte, bigSize)}
	for i := range src["big"] {
		src["big"][i] = byte(r.Uint32())
	}
	order := []string{"big"}
	for i := range 20 {
		p := fmt.Sprintf("small-%02d", i)
		src[p] = []byte(p)
		order = append(order, p)
	}
	st := newStore()
	bigAtFirstSmall := int64(-1)
	open := st.open
	opener := func(ctx context.Context, f FileInfo) (endpoint.FileWriter, error) {
		st.mu.Lock()
		if f.Path != "big" && bigAtFirstSmall < 0 {
			bigAtFirstSmall = int64(len(st.partial["big"]))
		}
		st.mu.Unlock()
		return open(ctx, f)
	}
	cfg := testConfig(r)
	cfg.AdmitBudget = 64 << 10
	sc, rc := udpPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	scfg := cfg
	scfg.Peer = rc.LocalAddr()
	snd, err := NewSender(sc, scfg)
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := NewReceiver(rc, cfg, opener)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan sessionOut, 1)
	go func() {
		var out sessionOut
		out.results, out.recvErr = rcv.Run(ctx)
		done <- out
	}()
	var out sessionOut
	out.sendErrs, out.sendErr = snd.Run(ctx, sendFiles(src, order))
	recv := <-done
	out.results, out.recvErr = recv.results, recv.recvErr
	checkDelivered(t, out, src, order, st)
	t.Logf("big file had %d of %d bytes written when the first small file was opened", bigAtFirstSmall, bigSize)
	if bigAtFirstSmall < 0 || bigAtFirstSmall > bigSize/2 {
		t.Fatalf("first small file opened with %d of the big file's %d bytes written; want it opened while the big one was still early", bigAtFirstSmall, bigSize)
	}
}
