package remote

import (
	"context"
	"net"
	"time"

	"github.com/ferry-sync/ferry/transport/proxy"
)

// A lost SYN or SYN-ACK costs TCP a whole retransmission timeout, 1 s at
// first and doubling (1, 3, 7 s), whatever the path's round trip: on a
// link that loses 10 % of its packets one connect in five paid it, and the
// slowest took 7.75 s to connect where 1.2 s was usual (make
// bench-connect). raceDial sends another SYN, on a connection of its own,
// every raceStagger while none has been answered, up to raceAttempts, and
// keeps the first connection made: a loss then costs raceStagger.
const (
	raceStagger  = 250 * time.Millisecond
	raceAttempts = 4
)

// raceDial dials addr with d, starting another attempt every stagger
// (measured on clock) while none has connected, at most attempts in all,
// and returns the first connection made; the attempts still under way are
// canceled and what they connect is closed. The first error ends the race
// once no other attempt is under way: a refused connection is not retried.
func raceDial(ctx context.Context, d proxy.Dialer, addr string, clock Clock, stagger time.Duration, attempts int) (net.Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		c   net.Conn
		err error
	}
	results := make(chan result, attempts)
	// drain closes what the n attempts still under way connect.
	drain := func(n int) {
		go func() {
			for range n {
				if l := <-results; l.c != nil {
					l.c.Close()
				}
			}
		}()
	}
	started, pending := 0, 0
	start := func() {
		started++
		pending++
		go func() {
			c, err := d.DialContext(ctx, "tcp", addr)
			results <- result{c, err}
		}()
	}
	start()
	var firstErr error
	for {
		var next <-chan time.Time
		if started < attempts && firstErr == nil {
			next = clock.After(stagger)
		}
		select {
		case r := <-results:
			pending--
			if r.err == nil {
				// The losers end with ctx; one that connects anyway is
				// closed.
				drain(pending)
				return r.c, nil
			}
			if firstErr == nil {
				firstErr = r.err
			}
			if pending == 0 {
				return nil, firstErr
			}
		case <-next:
			start()
		case <-ctx.Done():
			drain(pending)
			return nil, ctx.Err()
		}
	}
}

// racesDial reports whether connections to host are raced: not to a
// loopback address, where nothing is lost and an extra connection would
// only be noise.
func racesDial(host string) bool {
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}
