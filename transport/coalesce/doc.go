// Package coalesce wraps the TCP connection under SSH so that small
// messages written close together leave in one write: the SSH library
// writes every message separately, and with TCP_NODELAY each becomes its
// own segment, so a burst of a few hundred requests (a metadata wave)
// outgrows the congestion window and costs extra round trips.
//
// Caveats: Write returns before the bytes reach the kernel. A write error
// is reported by the next Write and by Close, and the connection is
// closed so that reads fail too. Close sends what is pending, for at most
// CloseTimeout, before closing.
package coalesce
