package data

import (
	"fmt"
	"log/slog"
	"net"
	"time"
)

// SocketBuffer is the receive and send buffer size asked for: a 100 Mbit/s,
// 200 ms path holds 2.5 MB in flight, and bursts on top need room.
const SocketBuffer = 8 << 20

// Listen opens a UDP socket for a data session and sizes its buffers with
// TuneBuffers.
func Listen(network, address string, log *slog.Logger) (*net.UDPConn, error) {
	addr, err := net.ResolveUDPAddr(network, address)
	if err != nil {
		return nil, fmt.Errorf("unable to resolve UDP address %q: %w", address, err)
	}
	c, err := net.ListenUDP(network, addr)
	if err != nil {
		return nil, fmt.Errorf("unable to listen on UDP %s: %w", address, err)
	}
	TuneBuffers(c, SocketBuffer, log)
	EnablePathMTU(c)
	return c, nil
}

// EnablePathMTU sets the don't-fragment bit on c's datagrams (Linux), so
// the kernel refuses one too big for the path (EMSGSIZE) rather than
// fragmenting it, and a session on c sizes its datagrams to the path. It
// reports whether the kernel took it.
func EnablePathMTU(c *net.UDPConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	return setPMTUDiscovery(raw, true)
}

// WriteToFragmenting sends one datagram with fragmentation allowed on a
// socket EnablePathMTU set: for the rare packet bigger than any path takes
// whole (a FILE naming a path of kilobytes), which the kernel would
// otherwise refuse. The socket is back to don't-fragment on return; a
// caller sharing c between goroutines serialises these calls.
func WriteToFragmenting(c *net.UDPConn, b []byte, addr net.Addr) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return c.WriteTo(b, addr)
	}
	setPMTUDiscovery(raw, false)
	defer setPMTUDiscovery(raw, true)
	return c.WriteTo(b, addr)
}

// FragmentingWriter is a PacketConn that can send a datagram with
// fragmentation allowed (see WriteToFragmenting), such as a demultiplexer
// in front of a shared socket; a session sends through it the control
// packets the kernel refused as too big.
type FragmentingWriter interface {
	WriteToFragmenting(b []byte, addr net.Addr) (int, error)
}

// TuneBuffers asks for want bytes of socket buffer in each direction, reads
// back what the kernel granted, and logs the sysctl to raise when it
// granted less. Too small a buffer drops packets in bursts and caps the rate
// on long paths. It returns the granted sizes (0 when unknown).
func TuneBuffers(c *net.UDPConn, want int, log *slog.Logger) (rcv, snd int) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	_ = c.SetReadBuffer(want)
	_ = c.SetWriteBuffer(want)
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, 0
	}
	// As root the limits can be bypassed; elsewhere this fails quietly.
	forceBuffers(raw, want)
	rcv, snd = grantedBuffers(raw)
	if rcv > 0 && rcv < want {
		log.Warn("UDP receive buffer smaller than asked; raise the limit for full speed on long paths",
			"granted", rcv, "wanted", want, "fix", fmt.Sprintf("sysctl -w net.core.rmem_max=%d", want))
	}
	if snd > 0 && snd < want {
		log.Warn("UDP send buffer smaller than asked; raise the limit for full speed on long paths",
			"granted", snd, "wanted", want, "fix", fmt.Sprintf("sysctl -w net.core.wmem_max=%d", want))
	}
	return rcv, snd
}

// EnableArrivalTimes asks the kernel to stamp every datagram c receives
// with its arrival time (Linux), read back with ArrivalTime from the
// datagram's control data (ReadMsgUDP, or a batch read's OOB). Delay
// measured from that stamp leaves out however long the process took to
// get to the datagram, which is not network queueing.
func EnableArrivalTimes(c *net.UDPConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	return enableRxTimestamps(raw)
}

// ArrivalTime returns when a datagram arrived, on now's clock: the kernel
// stamp in oob if there is a plausible one, else now.
func ArrivalTime(oob []byte, now time.Time) time.Time {
	t, ok := rxTime(oob)
	if !ok {
		return now
	}
	// The stamp is wall-clock time; now carries a monotonic reading. The
	// age bridges the two, and a wall-clock step makes it implausible.
	age := now.Sub(t)
	if age < 0 || age > time.Second {
		return now
	}
	return now.Add(-age)
}

// OOBSize is enough control data for ArrivalTime.
const OOBSize = 64

// EnableGRO asks the kernel to hand over runs of datagrams from one sender
// in one read (UDP_GRO, Linux 5.0+), or with on false to stop. A reader of
// c must then split every read by GROSegment. It reports whether the
// kernel took it.
func EnableGRO(c *net.UDPConn, on bool) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	return enableGRO(raw, on)
}

// GROSegment is the size of the datagrams a read on a socket with
// EnableGRO holds, from its control data (give the read 2×OOBSize of it):
// every one but the last, which may be shorter. 0 when the read is one
// datagram.
func GROSegment(oob []byte) int { return groSegment(oob) }

// TimedReader is a PacketConn that knows when each datagram arrived, such
// as a demultiplexer in front of a shared socket; the session reads
// through it instead of ReadFrom.
type TimedReader interface {
	ReadFromAt(p []byte) (n int, addr net.Addr, at time.Time, err error)
}

// Datagram is one datagram a DatagramReader hands over: its bytes (the
// reader's to keep and overwrite), sender and arrival time.
type Datagram struct {
	B    []byte
	From net.Addr
	At   time.Time
}

// DatagramReader is a PacketConn that hands over every datagram already
// waiting, up to len(ds), in one call, blocking (until the read deadline)
// only for the first. A session reads through it in preference to
// ReadFrom: one wake-up, and no copy, per batch rather than per datagram.
type DatagramReader interface {
	ReadDatagrams(ds []Datagram) (int, error)
}
