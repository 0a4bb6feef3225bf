package data

import (
	"encoding/binary"
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
// datagram's control data. It walks the headers in place: it runs for every
// datagram, and unix.ParseSocketControlMessage allocates for each.
func rxTime(oob []byte) (time.Time, bool) {
	hdr := unix.CmsgLen(0)
	for len(oob) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		n := int(h.Len)
		if n < hdr || n > len(oob) {
			return time.Time{}, false
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && n-hdr >= 16 {
			d := oob[hdr:n]
			sec := int64(binary.NativeEndian.Uint64(d[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(d[8:16]))
			return time.Unix(sec, nsec), true
		}
		next := unix.CmsgSpace(n - hdr)
		if next > len(oob) {
			break
		}
		oob = oob[next:]
	}
	return time.Time{}, false
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
