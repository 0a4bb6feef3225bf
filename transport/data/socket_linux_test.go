//go:build linux

package data

import (
	"net"
	"testing"
	"time"
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
	// the first socket asks; until then it stamps at the read.
	time.Sleep(100 * time.Millisecond)
	if _, err := c.WriteTo([]byte("x"), c.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	const wait = 50 * time.Millisecond
	time.Sleep(wait) // the datagram sits in the socket meanwhile
	buf, oob := make([]byte, 16), make([]byte, OOBSize)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, oobn, _, _, err := c.ReadMsgUDP(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rxTime(oob[:oobn]); !ok {
		t.Fatalf("no receive stamp in %d bytes of control data", oobn)
	}
	now := time.Now()
	at := ArrivalTime(oob[:oobn], now)
	if age := now.Sub(at); age < wait || age > time.Second {
		t.Fatalf("arrival %v before the read, want at least %v", age, wait)
	}
	if got := ArrivalTime(nil, now); !got.Equal(now) {
		t.Fatalf("no stamp: %v, want now", got)
	}
}
