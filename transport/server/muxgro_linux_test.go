//go:build linux

package server

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ferry-sync/ferry/transport/data"
	"github.com/ferry-sync/ferry/transport/wire"
)

// TestMuxSplitsCoalescedReads: a run of datagrams sent as one segmented
// send (GSO) reaches the shared socket, which has receive coalescing on,
// as one buffer over loopback; the mux must route each datagram in it to
// its session, whole and in order, the shorter last one included.
func TestMuxSplitsCoalescedReads(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	conn, err := data.Listen("udp4", "127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	m := newMux(conn, log)
	done := make(chan struct{})
	go func() { m.serve(); close(done) }()
	defer func() { conn.Close(); <-done }()
	sc := registerID(t, m, wire.SessionID{5})
	defer sc.Close()
	cli, err := data.Listen("udp4", "127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	const seg, count, last = 1000, 20, 300
	var run []byte
	for i := range count {
		d := wire.Header{Type: wire.TypeData, Session: wire.SessionID{5}, Number: uint64(i)}.Append(nil)
		size := seg
		if i == count-1 {
			size = last
		}
		for len(d) < size {
			d = append(d, byte(i))
		}
		run = append(run, d...)
	}
	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], seg)
	to := conn.LocalAddr().(*net.UDPAddr)
	if _, _, err := cli.WriteMsgUDP(run, oob, to); err != nil {
		if errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOPROTOOPT) {
			t.Skipf("no segmented sends here: %v", err)
		}
		t.Fatal(err)
	}
	ds := make([]data.Datagram, 8)
	var got int
	for got < count {
		if err := sc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, err := sc.ReadDatagrams(ds)
		if err != nil {
			t.Fatalf("after %d of %d datagrams: %v", got, count, err)
		}
		for _, d := range ds[:n] {
			hd, _, err := wire.ParseHeader(d.B)
			want := seg
			if got == count-1 {
				want = last
			}
			if err != nil || hd.Number != uint64(got) || len(d.B) != want {
				t.Fatalf("datagram %d: number %d, %d bytes, %v; want %d bytes", got, hd.Number, len(d.B), err, want)
			}
			got++
		}
	}
}
