//go:build !linux

package data

import "syscall"

func forceBuffers(raw syscall.RawConn, want int) {}

func grantedBuffers(raw syscall.RawConn) (rcv, snd int) { return 0, 0 }

func socketDomain(raw syscall.RawConn) int { return -1 }
