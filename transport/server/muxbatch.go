package server

import (
	"net"
	"os"
	"time"

	"github.com/ferry-sync/ferry/transport/data"
)

// ReadDatagrams hands the session every datagram already queued for it, up
// to len(ds), blocking (until the read deadline) only for the first. The
// datagrams are the mux's own copies, so they change hands without another
// copy, and a burst costs the session's reader one wake-up rather than one
// per datagram (data.DatagramReader).
func (c *sessionConn) ReadDatagrams(ds []data.Datagram) (int, error) {
	if len(ds) == 0 {
		return 0, nil
	}
	d, err := c.next()
	if err != nil {
		return 0, err
	}
	ds[0] = data.Datagram{B: d.b, From: d.from, At: d.at}
	n := 1
	for n < len(ds) {
		select {
		case d := <-c.in:
			ds[n] = data.Datagram{B: d.b, From: d.from, At: d.at}
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

var _ data.DatagramReader = (*sessionConn)(nil)

// next waits for the session's next datagram until the read deadline.
func (c *sessionConn) next() (datagram, error) {
	for {
		c.mu.Lock()
		dl, wake := c.deadline, c.wake
		c.mu.Unlock()
		var wait time.Duration
		if !dl.IsZero() {
			// As on a socket, a passed deadline fails the read even with
			// datagrams waiting: it is how the session stops its reader.
			if wait = time.Until(dl); wait <= 0 {
				return datagram{}, os.ErrDeadlineExceeded
			}
		}
		// The common case under load: a datagram is already waiting, and
		// no timer is needed to take it.
		select {
		case d := <-c.in:
			return d, nil
		default:
		}
		var timeout <-chan time.Time
		var t *time.Timer
		if !dl.IsZero() {
			t = time.NewTimer(wait)
			timeout = t.C
		}
		select {
		case d := <-c.in:
			stopTimer(t)
			return d, nil
		case <-c.closed:
			stopTimer(t)
			return datagram{}, net.ErrClosed
		case <-wake:
			stopTimer(t)
		case <-timeout:
			return datagram{}, os.ErrDeadlineExceeded
		}
	}
}
