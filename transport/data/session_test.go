package data

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/wire"
)

func mixedSizes(r *rand.Rand, n int) []int {
	sizes := []int{0, 1, 1334, 1335, 1336, 64 << 10, 3<<20 + 17, 0}
	for len(sizes) < n {
		sizes = append(sizes, r.IntN(40<<10))
	}
	return sizes
}

func TestSessionOverLoopbackDeliversEveryFile(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 3))
	src, order := randomFiles(r, mixedSizes(r, 300))
	sc, rc := udpPair(t)
	st := newStore()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := runSession(t, ctx, testConfig(r), sc, rc, sendFiles(src, order), st)
	checkDelivered(t, out, src, order, st)
	if out.snd.PayloadBytes == 0 || out.rcv.PayloadBytes != out.snd.PayloadBytes-0 && out.snd.RetransmittedBytes == 0 {
		t.Errorf("stats: sender %+v receiver %+v", out.snd, out.rcv)
	}
	t.Logf("sent %d datagrams, %d payload bytes, %d retransmitted, rtt %v", out.snd.PacketsSent, out.snd.PayloadBytes, out.snd.RetransmittedBytes, out.snd.RTT)
}

func TestSessionOverLossyLink(t *testing.T) {
	for _, tc := range []struct {
		name                        string
		loss, dup, corrupt, reorder float64
	}{
		{"clean", 0, 0, 0, 0},
		{"loss2", 0.02, 0, 0, 0},
		{"loss10", 0.10, 0, 0, 0},
		{"reorder-dup-corrupt", 0.03, 0.05, 0.02, 0.05},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seed := testSeed(t)
			r := rand.New(rand.NewPCG(seed, 4))
			src, order := randomFiles(r, mixedSizes(r, 60))
			sc, rc := udpPair(t)
			// Both directions are impaired: data and feedback.
			ls := &lossyConn{PacketConn: sc, r: rand.New(rand.NewPCG(seed, 5)), loss: tc.loss, dup: tc.dup, corrupt: tc.corrupt, reorder: tc.reorder}
			lr := &lossyConn{PacketConn: rc, r: rand.New(rand.NewPCG(seed, 6)), loss: tc.loss, dup: tc.dup, corrupt: tc.corrupt, reorder: tc.reorder}
			st := newStore()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			out := runSession(t, ctx, testConfig(r), ls, lr, sendFiles(src, order), st)
			checkDelivered(t, out, src, order, st)
			if tc.loss > 0 && out.snd.RetransmittedBytes == 0 {
				t.Errorf("%.0f%% loss but nothing retransmitted", tc.loss*100)
			}
			if tc.corrupt > 0 && out.rcv.Dropped.Forged+out.snd.Dropped.Forged+out.rcv.Dropped.Malformed+out.snd.Dropped.Malformed+out.rcv.Dropped.WrongSession+out.rcv.Dropped.Short == 0 {
				t.Errorf("corruption on but no packet dropped: %+v", out.rcv.Dropped)
			}
			if tc.dup > 0 && out.rcv.Dropped.Replayed == 0 {
				t.Errorf("duplication on but no replay dropped: %+v", out.rcv.Dropped)
			}
			t.Logf("lossy: dropped %d dup %d corrupt %d reorder %d; retransmit share %.3f, lost %d, rcv drops %+v",
				ls.dropped, ls.duplicated, ls.corrupted, ls.re, out.snd.RetransmitShare(), out.snd.LostPackets, out.rcv.Dropped)
		})
	}
}

func TestNoUDPWhenPeerNeverAnswers(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 7))
	sc, silent := udpPair(t)
	cfg := testConfig(r)
	cfg.NoUDPTimeout = 300 * time.Millisecond
	cfg.Peer = silent.LocalAddr()
	start := time.Now()
	_, err := Send(context.Background(), sc, cfg, sendFiles(map[string][]byte{"a": []byte("x")}, []string{"a"}))
	if !errors.Is(err, ErrNoUDP) {
		t.Fatalf("sender: err = %v, want ErrNoUDP", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("gave up after %v", el)
	}
	cfg.Peer = nil
	lonely, _ := udpPair(t)
	if _, err := Receive(context.Background(), lonely, cfg, newStore().open); !errors.Is(err, ErrNoUDP) {
		t.Fatalf("receiver: err = %v, want ErrNoUDP", err)
	}
}

func TestRefusedFileReportsSentinelToSender(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 8))
	src, order := randomFiles(r, []int{100, 5000, 0})
	st := newStore()
	st.refuse[order[1]] = endpoint.ErrNoSpace
	sc, rc := udpPair(t)
	out := runSession(t, context.Background(), testConfig(r), sc, rc, sendFiles(src, order), st)
	if out.sendErr != nil || out.recvErr != nil {
		t.Fatalf("session: %v / %v", out.sendErr, out.recvErr)
	}
	if !errors.Is(out.sendErrs[1], endpoint.ErrNoSpace) {
		t.Fatalf("refused file: sender sees %v, want ErrNoSpace", out.sendErrs[1])
	}
	if out.sendErrs[0] != nil || out.sendErrs[2] != nil {
		t.Fatalf("other files: %v", out.sendErrs)
	}
}

func TestHashMismatchIsRetriedOnceFromScratch(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 9))
	src, order := randomFiles(r, []int{70000, 70000})
	st := newStore()
	st.mismatch[order[0]] = 1 // first commit fails, the retry succeeds
	st.mismatch[order[1]] = 5 // every commit fails
	sc, rc := udpPair(t)
	out := runSession(t, context.Background(), testConfig(r), sc, rc, sendFiles(src, order), st)
	if out.sendErr != nil || out.recvErr != nil {
		t.Fatalf("session: %v / %v", out.sendErr, out.recvErr)
	}
	if out.sendErrs[0] != nil {
		t.Fatalf("file retried after one mismatch: %v", out.sendErrs[0])
	}
	if !errors.Is(out.sendErrs[1], endpoint.ErrHashMismatch) {
		t.Fatalf("file that never matches: %v, want ErrHashMismatch", out.sendErrs[1])
	}
	if st.opened[order[0]] != 2 || st.opened[order[1]] != 2 {
		t.Fatalf("opens: %v, want 2 each (one retry)", st.opened)
	}
	if got := st.final[order[0]]; string(got) != string(src[order[0]]) {
		t.Fatalf("retried file content differs")
	}
	if !errors.Is(out.results[1].Err, endpoint.ErrHashMismatch) || out.results[0].Err != nil {
		t.Fatalf("receiver results: %+v", out.results)
	}
}

func TestResumeSendsOnlyMissingChunks(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 10))
	const size = 6<<20 + 12345
	src, order := randomFiles(r, []int{size})
	st := newStore()
	cfg := testConfig(r)
	cfg.CheckpointInterval = 20 * time.Millisecond
	// The first session is cut off once about half the file is written.
	ctx, cancel := context.WithCancel(context.Background())
	cfg1 := cfg
	var written int64
	stop := make(chan struct{})
	var once sync.Once
	cfg1.Progress = func(_ string, d int64, _ bool) {
		written += d // only the receiver's loop calls this
		if written > size/2 {
			once.Do(func() { close(stop) })
		}
	}
	sc, rc := udpPair(t)
	rcv, _ := NewReceiver(rc, cfg1, st.open)
	scfg := cfg
	scfg.Peer = rc.LocalAddr()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = rcv.Run(ctx)
	}()
	sdone := make(chan struct{})
	go func() {
		defer close(sdone)
		_, _ = Send(ctx, sc, scfg, sendFiles(src, order))
	}()
	select {
	case <-stop:
	case <-time.After(30 * time.Second):
		t.Fatal("first session never got half way")
	}
	cancel()
	<-done
	<-sdone
	st.mu.Lock()
	have := len(st.partial[order[0]])
	_, ckpt := st.ckpt[order[0]]
	st.mu.Unlock()
	if have == 0 || !ckpt {
		t.Fatalf("interrupted session left %d partial bytes, checkpoint %v", have, ckpt)
	}
	// Corrupt one held chunk: the sender must notice and resend it.
	st.mu.Lock()
	st.partial[order[0]][5] ^= 0xff
	st.mu.Unlock()

	// A new session has a new key and id, as the control channel makes.
	cfg2 := testConfig(r)
	out := runSession(t, context.Background(), cfg2, sc, rc, sendFiles(src, order), st)
	checkDelivered(t, out, src, order, st)
	sent := int64(out.snd.PayloadBytes)
	held := int64(have) / DefaultChunkSize * DefaultChunkSize
	if want := int64(size) - held + DefaultChunkSize; sent > want+64<<10 {
		t.Fatalf("resumed session sent %d payload bytes; %d were held (one chunk corrupted), so at most ~%d should go", sent, held, want)
	}
	if out.snd.ResumedBytes < uint64(held-DefaultChunkSize) || out.snd.ResumedBytes == 0 {
		t.Fatalf("resumed %d bytes, want about %d", out.snd.ResumedBytes, held-DefaultChunkSize)
	}
	t.Logf("partial %d bytes; resumed %d, sent %d", have, out.snd.ResumedBytes, sent)
}

func TestForgedPacketsAreCountedNotFatal(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 11))
	src, order := randomFiles(r, mixedSizes(r, 40))
	sc, rc := udpPair(t)
	attacker, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer attacker.Close()
	cfg := testConfig(r)
	stop := make(chan struct{})
	// Garbage, truncated headers and well-formed headers of this session
	// with bodies under the wrong key.
	hr := rand.New(rand.NewPCG(1, 1))
	attack := func(from, to int) {
		for i := from; i < to; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b := make([]byte, hr.IntN(1500))
			for j := range b {
				b[j] = byte(hr.Uint32())
			}
			if len(b) > wire.HeaderLen && i%2 == 0 {
				// A well-formed header of this session over garbage.
				copy(b, wire.Header{Type: wire.Type(1 + hr.IntN(10)), Session: cfg.Session, Number: hr.Uint64() & wire.MaxNumber}.Append(nil))
			}
			_, _ = attacker.WriteTo(b, rc.LocalAddr())
			if i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	// The first forged packets wait in the receiver's socket before the
	// session starts, so some are read however fast the session ends
	// (the rest arrive while it runs).
	attack(0, 50)
	go attack(50, 3000)
	st := newStore()
	out := runSession(t, context.Background(), cfg, sc, rc, sendFiles(src, order), st)
	close(stop)
	checkDelivered(t, out, src, order, st)
	if out.rcv.Dropped.Dropped() == 0 {
		t.Fatalf("no forged packet counted: %+v", out.rcv.Dropped)
	}
	t.Logf("receiver drops: %+v", out.rcv.Dropped)
}
