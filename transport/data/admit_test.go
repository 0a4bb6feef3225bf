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

// commitGate is a writer whose Commit waits for release when hold is set,
// and says on done when a commit went through.
type commitGate struct {
	endpoint.FileWriter
	hold    bool
	release <-chan struct{}
	done    chan<- string
	path    string
}

func (w *commitGate) Commit() error {
	if w.hold {
		<-w.release
	}
	err := w.FileWriter.Commit()
	if err == nil {
		w.done <- w.path
	}
	return err
}

// TestSlowCommitsDoNotHoldTheWindow: files whose every byte is
// acknowledged and only wait for the receiver to commit them leave their
// place in the window of open files to the files behind them. A commit
// held up (a slow fsync; on wan-100 a file whose last packet was lost
// and resent) stalled every file after it: with the window full of files
// waiting for their results the sender had nothing to send.
func TestSlowCommitsDoNotHoldTheWindow(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 8))
	const window, held, files = 4, 4, 16
	src := map[string][]byte{}
	var order []string
	for i := range files {
		p := fmt.Sprintf("f%02d", i)
		b := make([]byte, 1000+i)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		src[p] = b
		order = append(order, p)
	}
	st := newStore()
	release := make(chan struct{})
	committed := make(chan string, files)
	opener := func(ctx context.Context, f FileInfo) (endpoint.FileWriter, error) {
		w, err := st.open(ctx, f)
		if err != nil {
			return nil, err
		}
		// The first files announced fill the window; their commits wait.
		return &commitGate{FileWriter: w, hold: f.Path < order[held], release: release, done: committed, path: f.Path}, nil
	}
	cfg := testConfig(r)
	cfg.MaxOpenFiles = window
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
	sent := make(chan sessionOut, 1)
	go func() {
		var out sessionOut
		out.sendErrs, out.sendErr = snd.Run(ctx, sendFiles(src, order))
		sent <- out
	}()
	// Every file behind the held ones must commit while they wait. The
	// deadline only bounds a failing run.
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	got := 0
	for got < files-held {
		select {
		case <-committed:
			got++
			continue
		case <-deadline.C:
		}
		break
	}
	close(release)
	out := <-sent
	recv := <-done
	out.results, out.recvErr = recv.results, recv.recvErr
	if got < files-held {
		t.Fatalf("%d of the %d files behind %d held commits committed while they were held: the window of %d stayed full of files waiting for their results",
			got, files-held, held, window)
	}
	checkDelivered(t, out, src, order, st)
}
