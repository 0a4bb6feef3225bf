package data

import (
	"encoding/binary"
	"net"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func forceBuffers(raw syscall.RawConn, want int) {
	_ = raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, want)
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, want)
	})
}

// grantedBuffers reads the buffer sizes back. Linux reports twice what was
// set (it counts its bookkeeping), so the value is halved to compare with
// what was asked.
func grantedBuffers(raw syscall.RawConn) (rcv, snd int) {
	_ = raw.Control(func(fd uintptr) {
		if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF); err == nil {
			rcv = v / 2
		}
		if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF); err == nil {
			snd = v / 2
		}
	})
	return rcv, snd
}

// socketDomain reports the address family of a socket, so batching is only
// used where x/net can marshal the peer's address for it.
func socketDomain(raw syscall.RawConn) int {
	d := -1
	_ = raw.Control(func(fd uintptr) {
		if v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN); err == nil {
			d = v
		}
	})
	return d
}

func enableRxTimestamps(raw syscall.RawConn) bool {
	ok := false
	_ = raw.Control(func(fd uintptr) {
		ok = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) == nil
	})
	return ok
}

// rxTime finds the kernel's receive stamp (SCM_TIMESTAMPNS) in a
// datagram's control data.
func rxTime(oob []byte) (time.Time, bool) {
	d := findCmsg(oob, unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS)
	if len(d) < 16 {
		return time.Time{}, false
	}
	sec := int64(binary.NativeEndian.Uint64(d[0:8]))
	nsec := int64(binary.NativeEndian.Uint64(d[8:16]))
	return time.Unix(sec, nsec), true
}

// findCmsg returns the data of the first control message of the given
// level and type in oob, nil if there is none. It walks the headers in
// place: it runs for every datagram, and unix.ParseSocketControlMessage
// allocates for each.
func findCmsg(oob []byte, level, typ int32) []byte {
	hdr := unix.CmsgLen(0)
	for len(oob) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		n := int(h.Len)
		if n < hdr || n > len(oob) {
			return nil
		}
		if h.Level == level && h.Type == typ {
			return oob[hdr:n]
		}
		next := unix.CmsgSpace(n - hdr)
		if next > len(oob) {
			break
		}
		oob = oob[next:]
	}
	return nil
}

// enableGRO asks the kernel to hand over runs of datagrams from one sender
// as one buffer (UDP_GRO, Linux 5.0+), with the segment size in a control
// message (groSegment), or with on false to stop. It reports whether the
// kernel took it.
func enableGRO(raw syscall.RawConn, on bool) bool {
	v := 0
	if on {
		v = 1
	}
	ok := false
	_ = raw.Control(func(fd uintptr) {
		ok = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, v) == nil
	})
	return ok
}

// groSegment is the size of the datagrams a coalesced read holds, from its
// UDP_GRO control message; 0 when the read is one datagram.
func groSegment(oob []byte) int {
	d := findCmsg(oob, unix.IPPROTO_UDP, unix.UDP_GRO)
	switch {
	case len(d) >= 4:
		return int(binary.NativeEndian.Uint32(d))
	case len(d) >= 2:
		return int(binary.NativeEndian.Uint16(d))
	}
	return 0
}

// gsoSupported reports whether the kernel can segment one large UDP send
// into datagrams itself (UDP_SEGMENT, Linux 4.18+).
func gsoSupported(raw syscall.RawConn) bool {
	ok := false
	_ = raw.Control(func(fd uintptr) {
		_, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
		ok = err == nil
	})
	return ok
}

// gsoOOB is the control message asking the kernel to cut a send into
// datagrams of size bytes.
func gsoOOB(b []byte, size int) []byte {
	h := unix.Cmsghdr{Level: unix.IPPROTO_UDP, Type: unix.UDP_SEGMENT}
	h.SetLen(unix.CmsgLen(2))
	b = b[:unix.CmsgSpace(2)]
	clear(b)
	*(*unix.Cmsghdr)(unsafe.Pointer(&b[0])) = h
	binary.NativeEndian.PutUint16(b[unix.CmsgLen(0):], uint16(size))
	return b
}

// pmtuSupported: the kernel reports datagrams too big for the path
// (EMSGSIZE) on a socket with path MTU discovery on, and the route's MTU.
const pmtuSupported = true

// setPMTUDiscovery sets the don't-fragment bit on every datagram of the
// socket (IP_PMTUDISC_DO, and its IPv6 twin): a datagram too big for the
// path is refused with EMSGSIZE (the device's MTU, or a smaller one an
// ICMP "fragmentation needed" taught the kernel) instead of being cut into
// fragments, so the session learns to send smaller ones. With do false
// the kernel fragments again (IP_PMTUDISC_DONT).
func setPMTUDiscovery(raw syscall.RawConn, do bool) bool {
	v4, v6 := unix.IP_PMTUDISC_DONT, unix.IPV6_PMTUDISC_DONT
	if do {
		v4, v6 = unix.IP_PMTUDISC_DO, unix.IPV6_PMTUDISC_DO
	}
	ok := false
	_ = raw.Control(func(fd uintptr) {
		// A dual-stack IPv6 socket sends IPv4 datagrams too: set both.
		e4 := unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, v4)
		e6 := unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, v6)
		ok = e4 == nil || e6 == nil
	})
	return ok
}

// routeMTU is the MTU of the route to peer as the kernel knows it now:
// the device's, or a smaller path MTU learned from ICMP. IP_MTU is only
// answered on a connected socket, so it asks a throwaway one (connecting
// a UDP socket sends nothing). 0 if unknown.
func routeMTU(peer *net.UDPAddr) int {
	c, err := net.DialUDP("udp", nil, peer)
	if err != nil {
		return 0
	}
	defer c.Close()
	raw, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	mtu := 0
	_ = raw.Control(func(fd uintptr) {
		level, opt := unix.IPPROTO_IP, unix.IP_MTU
		if peer.IP.To4() == nil {
			level, opt = unix.IPPROTO_IPV6, unix.IPV6_MTU
		}
		if v, err := unix.GetsockoptInt(int(fd), level, opt); err == nil {
			mtu = v
		}
	})
	return mtu
}
