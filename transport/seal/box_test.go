package seal

import (
	"bytes"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/ferry-sync/ferry/transport/wire"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomised tests (0: from FERRY_SEED or the clock)")

func testSeed(t testing.TB) uint64 {
	s := *seedFlag
	if s == 0 {
		if v, err := strconv.ParseUint(os.Getenv("FERRY_SEED"), 10, 64); err == nil {
			s = v
		}
	}
	if s == 0 {
		s = rand.Uint64()
	}
	t.Logf("seed %d (rerun with -seed=%d)", s, s)
	return s
}

var (
	testKey     = bytes.Repeat([]byte{7}, KeyLen)
	testSession = wire.SessionID{1, 2, 3, 4}
)

func pair(t testing.TB) (snd, rcv *Box) {
	t.Helper()
	snd, err := New(testKey, testSession, Sender)
	if err != nil {
		t.Fatal(err)
	}
	rcv, err = New(testKey, testSession, Receiver)
	if err != nil {
		t.Fatal(err)
	}
	return snd, rcv
}

func sealed(t testing.TB, b *Box, typ wire.Type, body []byte) (wire.Header, []byte) {
	t.Helper()
	h := b.Next(typ)
	pkt, err := b.Seal(append(h.Append(make([]byte, 0, 128)), body...))
	if err != nil {
		t.Fatal(err)
	}
	return h, pkt
}

func TestSealOpenBothDirections(t *testing.T) {
	snd, rcv := pair(t)
	for i := 0; i < 3; i++ {
		h, pkt := sealed(t, snd, wire.TypeData, []byte("to the receiver"))
		if bytes.Contains(pkt, []byte("receiver")) {
			t.Fatalf("body travels in clear")
		}
		gh, body, err := rcv.Open(pkt)
		if err != nil || gh != h || string(body) != "to the receiver" {
			t.Fatalf("open: %v %+v %q", err, gh, body)
		}
		h, pkt = sealed(t, rcv, wire.TypeFeedback, []byte("to the sender"))
		gh, body, err = snd.Open(pkt)
		if err != nil || gh != h || string(body) != "to the sender" {
			t.Fatalf("open: %v %+v %q", err, gh, body)
		}
	}
}

func TestDirectionsUseDistinctNonces(t *testing.T) {
	// Both sides number from 1 with one key: the same number and body must
	// still give different ciphertexts, or GCM's keystream would repeat.
	snd, rcv := pair(t)
	_, a := sealed(t, snd, wire.TypePing, []byte("same body"))
	_, b := sealed(t, rcv, wire.TypePing, []byte("same body"))
	if bytes.Equal(a[wire.HeaderLen:], b[wire.HeaderLen:]) {
		t.Fatalf("sender and receiver produced the same ciphertext for packet 1")
	}
}

func TestReflectedPacketIsDropped(t *testing.T) {
	snd, _ := pair(t)
	_, pkt := sealed(t, snd, wire.TypeData, []byte("x"))
	if _, _, err := snd.Open(pkt); !errors.Is(err, ErrWrongSide) {
		t.Fatalf("own packet reflected back: err = %v", err)
	}
	if snd.Stats().WrongSide != 1 {
		t.Fatalf("reflection not counted: %+v", snd.Stats())
	}
}

func TestReplayIsDroppedAndReorderingAccepted(t *testing.T) {
	snd, rcv := pair(t)
	var pkts [][]byte
	for i := 0; i < 10; i++ {
		_, p := sealed(t, snd, wire.TypeData, []byte{byte(i)})
		pkts = append(pkts, p)
	}
	copies := make([][]byte, len(pkts))
	for i, p := range pkts {
		copies[i] = append([]byte(nil), p...)
	}
	for _, i := range []int{3, 0, 9, 1, 2, 8, 4, 5, 7, 6} {
		if _, _, err := rcv.Open(pkts[i]); err != nil {
			t.Fatalf("reordered packet %d: %v", i, err)
		}
	}
	for i := range copies {
		if _, _, err := rcv.Open(copies[i]); !errors.Is(err, ErrReplayed) {
			t.Fatalf("replay of %d: err = %v", i, err)
		}
	}
	if st := rcv.Stats(); st.Opened != 10 || st.Replayed != 10 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPacketBelowWindowIsDropped(t *testing.T) {
	snd, rcv := pair(t)
	_, old := sealed(t, snd, wire.TypeData, nil)
	for i := 0; i < ReplayWindow+1; i++ {
		snd.Next(wire.TypeData)
	}
	_, fresh := sealed(t, snd, wire.TypeData, nil)
	if _, _, err := rcv.Open(fresh); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rcv.Open(old); !errors.Is(err, ErrTooOld) {
		t.Fatalf("old packet: err = %v", err)
	}
}

func TestEveryCorruptionIsDropped(t *testing.T) {
	snd, rcv := pair(t)
	_, pkt := sealed(t, snd, wire.TypeData, []byte("some payload bytes"))
	drops := 0
	for i := 0; i < len(pkt); i++ {
		for bit := 0; bit < 8; bit++ {
			p := append([]byte(nil), pkt...)
			p[i] ^= 1 << bit
			if _, _, err := rcv.Open(p); err == nil {
				t.Fatalf("flip of byte %d bit %d accepted", i, bit)
			}
			drops++
		}
	}
	for i := 0; i < len(pkt); i++ {
		if _, _, err := rcv.Open(append([]byte(nil), pkt[:i]...)); err == nil {
			t.Fatalf("prefix of %d/%d bytes accepted", i, len(pkt))
		}
		drops++
	}
	if st := rcv.Stats(); st.Dropped() != uint64(drops) || st.Opened != 0 {
		t.Fatalf("stats %+v, want %d drops", st, drops)
	}
	// The genuine packet still opens: forgeries did not move the window.
	if _, _, err := rcv.Open(pkt); err != nil {
		t.Fatalf("genuine packet after forgeries: %v", err)
	}
}

func TestOtherSessionAndKeyAreDropped(t *testing.T) {
	_, rcv := pair(t)
	other, _ := New(testKey, wire.SessionID{9}, Sender)
	_, p := sealed(t, other, wire.TypeData, []byte("x"))
	if _, _, err := rcv.Open(p); !errors.Is(err, ErrWrongSession) {
		t.Fatalf("other session: %v", err)
	}
	otherKey, _ := New(bytes.Repeat([]byte{8}, KeyLen), testSession, Sender)
	_, p = sealed(t, otherKey, wire.TypeData, []byte("x"))
	if _, _, err := rcv.Open(p); !errors.Is(err, ErrForged) {
		t.Fatalf("other key: %v", err)
	}
}

func TestSealRefusesReusedNumber(t *testing.T) {
	snd, _ := pair(t)
	h := snd.Next(wire.TypeData)
	if _, err := snd.Seal(h.Append(nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := snd.Seal(h.Append(nil)); !errors.Is(err, ErrNumberReused) {
		t.Fatalf("second seal of number %d: err = %v", h.Number, err)
	}
}

func TestNewRejectsShortKey(t *testing.T) {
	if _, err := New(make([]byte, 16), testSession, Sender); err == nil {
		t.Fatal("16-byte key accepted")
	}
}

// TestWindowMatchesModel drives the bitmap with random numbers and compares
// it with a plain set that forgets numbers below the window.
func TestWindowMatchesModel(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 1))
	var w window
	seen := map[uint64]bool{}
	var top uint64
	for i := 0; i < 200000; i++ {
		var n uint64
		switch r.IntN(4) {
		case 0:
			n = top + uint64(r.IntN(3000))
		case 1:
			n = top + uint64(r.IntN(10000))
		default:
			n = top - min(top, uint64(r.IntN(ReplayWindow+200)))
		}
		want := fresh
		switch {
		case len(seen) > 0 && n <= top && top-n >= ReplayWindow:
			want = tooOld
		case seen[n]:
			want = replayed
		}
		if got := w.check(n); got != want {
			t.Fatalf("step %d: check(%d) with top %d = %d, want %d", i, n, top, got, want)
		}
		if want == fresh {
			w.mark(n)
			seen[n] = true
			top = max(top, n)
		}
	}
}

// TestSealStopsAtTheLastNumber: the header carries 48 bits of packet
// number, so a box that ran past them must refuse to seal rather than
// wrap around to a nonce it already used.
func TestSealStopsAtTheLastNumber(t *testing.T) {
	snd, rcv := pair(t)
	snd.next = wire.MaxNumber
	_, last := sealed(t, snd, wire.TypeData, []byte("last"))
	if _, body, err := rcv.Open(last); err != nil || string(body) != "last" {
		t.Fatalf("packet number MaxNumber: Open = %q, %v", body, err)
	}
	h := snd.Next(wire.TypeData)
	if h.Number != wire.MaxNumber+1 {
		t.Fatalf("Next after MaxNumber = %d", h.Number)
	}
	if _, err := snd.Seal(append(h.Append(nil), "wrapped"...)); !errors.Is(err, ErrNumberReused) {
		t.Fatalf("Seal past MaxNumber: err = %v, want ErrNumberReused", err)
	}
}

// TestOpenToLeavesThePacket: OpenTo decrypts into the buffer it is given,
// leaves the packet as it was, and refuses what Open refuses (a replay, a
// flipped bit) without counting it as opened.
func TestOpenToLeavesThePacket(t *testing.T) {
	snd, rcv := pair(t)
	body := []byte("a body long enough to span more than one AES block")
	h, pkt := sealed(t, snd, wire.TypeData, body)
	orig := append([]byte(nil), pkt...)
	dst := make([]byte, 3, 256)
	gh, got, err := rcv.OpenTo(dst, pkt)
	if err != nil {
		t.Fatal(err)
	}
	if gh.Number != h.Number || !bytes.Equal(got[3:], body) || &got[0] != &dst[0] {
		t.Fatalf("header %d (want %d), body %q appended to dst: %v", gh.Number, h.Number, got, &got[0] == &dst[0])
	}
	if !bytes.Equal(pkt, orig) {
		t.Fatal("OpenTo changed the packet")
	}
	if _, _, err := rcv.OpenTo(nil, pkt); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replay: %v, want ErrReplayed", err)
	}
	_, pkt2 := sealed(t, snd, wire.TypeData, body)
	pkt2[len(pkt2)-1] ^= 1
	if _, _, err := rcv.OpenTo(nil, pkt2); !errors.Is(err, ErrForged) {
		t.Fatalf("flipped bit: %v, want ErrForged", err)
	}
	if st := rcv.Stats(); st.Opened != 1 {
		t.Fatalf("opened %d, want 1", st.Opened)
	}
}
