//go:build linux

package data

import (
	"encoding/binary"
	"net"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's receive stamp is found and put on the caller's clock: a
// datagram left waiting in the socket shows its wait.
func TestArrivalTimeFromKernelStamp(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !EnableArrivalTimes(c) {
		t.Fatal("SO_TIMESTAMPNS refused")
	}
	// The kernel turns receive stamping on for the system a moment after
	// the first socket asks (deferred work); until then it stamps at the
	// read. So a datagram is sent, left waiting, and read until its stamp
	// shows the wait: a stamp taken at the read never does.
	const wait = 50 * time.Millisecond
	buf, oob := make([]byte, 16), make([]byte, OOBSize)
	var now time.Time
	for deadline := time.Now().Add(10 * time.Second); ; {
		sent := time.Now()
		if _, err := c.WriteTo([]byte("x"), c.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(wait) // the datagram sits in the socket meanwhile
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, oobn, _, _, err := c.ReadMsgUDP(buf, oob)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := rxTime(oob[:oobn]); !ok {
			t.Fatalf("no receive stamp in %d bytes of control data", oobn)
		}
		now = time.Now()
		at := ArrivalTime(oob[:oobn], now)
		if at.Before(sent) || at.After(now) {
			t.Fatalf("arrival %v is outside the send (%v) and the read (%v)", at, sent, now)
		}
		if now.Sub(at) >= wait {
			break
		}
		if now.After(deadline) {
			t.Fatalf("arrival %v before the read, want at least %v", now.Sub(at), wait)
		}
	}
	if got := ArrivalTime(nil, now); !got.Equal(now) {
		t.Fatalf("no stamp: %v, want now", got)
	}
}

// rxTime agrees with x/sys's parser on control data holding other messages
// around the stamp, and refuses truncated or malformed data.
func TestRxTimeWalksControlData(t *testing.T) {
	stamp := func(sec, nsec int64) []byte {
		b := make([]byte, unix.CmsgSpace(16))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS
		h.SetLen(unix.CmsgLen(16))
		binary.NativeEndian.PutUint64(b[unix.CmsgLen(0):], uint64(sec))
		binary.NativeEndian.PutUint64(b[unix.CmsgLen(0)+8:], uint64(nsec))
		return b
	}
	other := func(n int) []byte {
		b := make([]byte, unix.CmsgSpace(n))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_TOS
		h.SetLen(unix.CmsgLen(n))
		return b
	}
	want := time.Unix(1700000000, 123456789)
	for _, oob := range [][]byte{
		stamp(want.Unix(), int64(want.Nanosecond())),
		append(other(1), stamp(want.Unix(), int64(want.Nanosecond()))...),
		append(append(other(5), other(8)...), stamp(want.Unix(), int64(want.Nanosecond()))...),
	} {
		got, ok := rxTime(oob)
		if !ok || !got.Equal(want) {
			t.Fatalf("rxTime = %v, %v; want %v", got, ok, want)
		}
		msgs, err := unix.ParseSocketControlMessage(oob)
		if err != nil || len(msgs) == 0 {
			t.Fatalf("x/sys cannot parse the test data: %v", err)
		}
		// The stamp ends the data: any cut loses part of it.
		for cut := range len(oob) {
			if got, ok := rxTime(oob[:cut]); ok {
				t.Fatalf("truncated to %d of %d bytes: found %v", cut, len(oob), got)
			}
		}
	}
	if _, ok := rxTime(other(4)); ok {
		t.Fatal("found a stamp where there is none")
	}
	bad := stamp(1, 2)
	(*unix.Cmsghdr)(unsafe.Pointer(&bad[0])).SetLen(2)
	if _, ok := rxTime(bad); ok {
		t.Fatal("accepted a header shorter than itself")
	}
}

func BenchmarkArrivalTime(b *testing.B) {
	oob := make([]byte, unix.CmsgSpace(16))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS
	h.SetLen(unix.CmsgLen(16))
	now := time.Now()
	binary.NativeEndian.PutUint64(oob[unix.CmsgLen(0):], uint64(now.Unix()))
	b.ReportAllocs()
	for b.Loop() {
		_ = ArrivalTime(oob, now)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
}
