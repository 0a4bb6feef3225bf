// Package lossy wraps a net.PacketConn so that tests can drop, duplicate,
// corrupt, reorder and delay outgoing datagrams, reproducibly from a seed.
//
// # Caveats
//
// It is for tests only: packets wait in an unbounded-time, bounded-size
// queue served by one goroutine with real timers, so a write never fails for
// the caller (errors from the wrapped conn are only counted in Stats) and
// packets still queued at Close are discarded.
package lossy
