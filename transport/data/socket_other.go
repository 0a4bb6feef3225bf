//go:build !linux

package data

import (
	"syscall"
	"time"
)

func forceBuffers(raw syscall.RawConn, want int) {}

func grantedBuffers(raw syscall.RawConn) (rcv, snd int) { return 0, 0 }

func socketDomain(raw syscall.RawConn) int { return -1 }

func enableRxTimestamps(raw syscall.RawConn) bool { return false }

func rxTime(oob []byte) (time.Time, bool) { return time.Time{}, false }

func gsoSupported(raw syscall.RawConn) bool { return false }

func gsoOOB(b []byte, size int) []byte { return b[:0] }
