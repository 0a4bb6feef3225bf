//go:build !linux

package data

import (
	"net"
	"syscall"
	"time"
)

func forceBuffers(raw syscall.RawConn, want int) {}

func grantedBuffers(raw syscall.RawConn) (rcv, snd int) { return 0, 0 }

func socketDomain(raw syscall.RawConn) int { return -1 }

func enableRxTimestamps(raw syscall.RawConn) bool { return false }

func rxTime(oob []byte) (time.Time, bool) { return time.Time{}, false }

func gsoSupported(raw syscall.RawConn) bool { return false }

func enableGRO(raw syscall.RawConn, on bool) bool { return false }

func groSegment(oob []byte) int { return 0 }

func gsoOOB(b []byte, size int) []byte { return b[:0] }

// pmtuSupported: without the kernel's EMSGSIZE and route MTU (not Linux),
// a session keeps to DefaultPacketSize.
const pmtuSupported = false

func setPMTUDiscovery(raw syscall.RawConn, do bool) bool { return false }

func routeMTU(peer *net.UDPAddr) int { return 0 }
