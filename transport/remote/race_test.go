package remote

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stepClock hands each After to the test, which fires it by sending on
// the channel it received.
type stepClock struct{ afters chan chan time.Time }

func (c *stepClock) Now() time.Time { return time.Unix(0, 0) }
func (c *stepClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.afters <- ch
	return ch
}

// scriptDialer answers the nth dial as told by the test: each dial is
// announced on calls with a channel the test sends the outcome on (nil
// outcome: the SYN is lost and the dial waits for its context).
type scriptDialer struct {
	calls chan chan dialOutcome
	// deaf is the dial (1 for the first) that connects even once its
	// context is canceled, as a SYN-ACK already on its way does.
	deaf    int
	mu      sync.Mutex
	n       int
	cancels chan struct{} // one per dial that ended with its context
}

type dialOutcome struct {
	c   net.Conn
	err error
}

func (d *scriptDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	ch := make(chan dialOutcome, 1)
	d.mu.Lock()
	d.n++
	deaf := d.n == d.deaf
	d.mu.Unlock()
	d.calls <- ch
	if deaf {
		o := <-ch
		return o.c, o.err
	}
	select {
	case o := <-ch:
		return o.c, o.err
	case <-ctx.Done():
		d.cancels <- struct{}{}
		return nil, ctx.Err()
	}
}

// TestRaceDialTakesTheFirstAnsweredSYN: while the first SYN goes
// unanswered (lost), another connection is started every stagger; the
// first to connect is returned at once, the one still waiting is canceled,
// and one that connects after the race is closed.
func TestRaceDialTakesTheFirstAnsweredSYN(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clock := &stepClock{afters: make(chan chan time.Time)}
	d := &scriptDialer{calls: make(chan chan dialOutcome), deaf: 2, cancels: make(chan struct{}, raceAttempts)}
	type got struct {
		c   net.Conn
		err error
	}
	done := make(chan got, 1)
	go func() {
		c, err := raceDial(ctx, d, "192.0.2.1:33001", clock, raceStagger, raceAttempts)
		done <- got{c, err}
	}()
	<-d.calls // lost
	(<-clock.afters) <- time.Time{}
	second := <-d.calls // lost too, answered late
	(<-clock.afters) <- time.Time{}
	third := <-d.calls
	<-clock.afters // the fourth is not needed
	winner, peer := net.Pipe()
	defer peer.Close()
	third <- dialOutcome{c: winner}
	r := <-done
	if r.err != nil || r.c != winner {
		t.Fatalf("raceDial = %v, %v; want the third connection", r.c, r.err)
	}
	late, latePeer := net.Pipe()
	second <- dialOutcome{c: late}
	// The late one is closed: its peer reads EOF.
	if _, err := latePeer.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection made after the race was won stayed open")
	}
	select {
	case <-d.cancels:
	case <-ctx.Done():
		t.Fatal("the first, unanswered dial was not canceled")
	}
}

// TestRaceDialDoesNotRetryARefusal: a refused connection is an answer,
// not a loss; raceDial returns it without dialing again.
func TestRaceDialDoesNotRetryARefusal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clock := &stepClock{afters: make(chan chan time.Time, raceAttempts)}
	d := &scriptDialer{calls: make(chan chan dialOutcome, raceAttempts), cancels: make(chan struct{}, raceAttempts)}
	done := make(chan error, 1)
	go func() {
		_, err := raceDial(ctx, d, "192.0.2.1:33001", clock, raceStagger, raceAttempts)
		done <- err
	}()
	(<-d.calls) <- dialOutcome{err: syscall.ECONNREFUSED}
	if err := <-done; !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("raceDial after a refusal: %v, want ECONNREFUSED", err)
	}
	if n := len(d.calls); n != 0 {
		t.Fatalf("%d more dials after a refusal", n)
	}
}

func TestRacesDialNotOnLoopback(t *testing.T) {
	for host, want := range map[string]bool{"127.0.0.1": false, "::1": false, "localhost": false, "10.199.0.1": true, "server.example": true} {
		if got := racesDial(host); got != want {
			t.Errorf("racesDial(%q) = %v, want %v", host, got, want)
		}
	}
}
