package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/transport/data"
	"github.com/ferry-sync/ferry/transport/wire"
)

func TestReadDatagramsTakesWhatWaitsInOrder(t *testing.T) {
	m := newMux(nil, slog.New(slog.DiscardHandler))
	sc := m.register(wire.SessionID{9})
	defer sc.Close()
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	at := time.Unix(100, 0)
	for i := range 6 {
		sc.deliver(datagram{[]byte(fmt.Sprint("d", i)), from, at.Add(time.Duration(i))})
	}
	ds := make([]data.Datagram, 4)
	var got []string
	for _, want := range []int{4, 2} {
		n, err := sc.ReadDatagrams(ds)
		if err != nil || n != want {
			t.Fatalf("ReadDatagrams = %d, %v; want %d datagrams", n, err, want)
		}
		for _, d := range ds[:n] {
			if d.From != from || d.At != at.Add(time.Duration(len(got))) {
				t.Fatalf("datagram %q from %v at %v", d.B, d.From, d.At)
			}
			got = append(got, string(d.B))
		}
	}
	if fmt.Sprint(got) != "[d0 d1 d2 d3 d4 d5]" {
		t.Fatalf("got %v", got)
	}

	// Nothing waiting: it blocks until a datagram comes.
	go func() {
		time.Sleep(20 * time.Millisecond)
		sc.deliver(datagram{[]byte("late"), from, at})
	}()
	if n, err := sc.ReadDatagrams(ds); err != nil || n != 1 || string(ds[0].B) != "late" {
		t.Fatalf("blocking read = %d, %v", n, err)
	}

	// A passed deadline fails the read even with a datagram waiting.
	sc.deliver(datagram{[]byte("x"), from, at})
	if err := sc.SetReadDeadline(time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.ReadDatagrams(ds); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after deadline: %v", err)
	}
	if err := sc.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, err := sc.ReadDatagrams(ds); err != nil || n != 1 {
		t.Fatalf("deadline cleared: %d, %v", n, err)
	}
	if _, err := sc.ReadDatagrams(ds); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("deadline reached while waiting: %v", err)
	}
	sc.Close()
	if err := sc.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.ReadDatagrams(ds); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}
