package remote_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/remote"
)

// handClock never moves on its own: each backoff wait is reported on
// waits and ends when the test sends on fire.
type handClock struct {
	now   time.Time
	waits chan time.Duration
	fire  chan time.Time
}

func (c *handClock) Now() time.Time { return c.now }
func (c *handClock) After(d time.Duration) <-chan time.Time {
	c.waits <- d
	return c.fire
}

// downAfterOneCall dials a server with a hand clock for the redial
// backoff (1 s to 4 s, jitter at 0.5, no keepalives), makes one call and
// stops the server.
func downAfterOneCall(t *testing.T) (*env, *handClock, *remote.Endpoint, context.Context) {
	t.Helper()
	e := newEnv(t, nil)
	fc := &handClock{now: time.Unix(1e9, 0), waits: make(chan time.Duration), fire: make(chan time.Time, 1)}
	ep := e.mustDial(func(o *remote.Options) {
		o.Clock, o.Rand = fc, func() float64 { return 0.5 }
		o.RedialMin, o.RedialMax = time.Second, 4*time.Second
		o.KeepAlive = -1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if _, err := ep.FreeSpace(ctx); err != nil {
		t.Fatal(err)
	}
	e.stop()
	return e, fc, ep, ctx
}

// TestRedialBacksOffWithJitter: while the server is down, each dial after
// a failed one waits twice as long as the last (jitter taking a quarter
// off with Rand at 0.5), up to the cap; once the server is back, the
// endpoint reconnects on its own and calls work again.
func TestRedialBacksOffWithJitter(t *testing.T) {
	e, fc, ep, ctx := downAfterOneCall(t)
	call := func() <-chan error {
		ch := make(chan error, 1)
		go func() {
			_, err := ep.FreeSpace(ctx)
			ch <- err
		}()
		return ch
	}
	want := []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second, 3 * time.Second}
	var got []time.Duration
	res := call()
	for calls := 0; len(got) < len(want); calls++ {
		if calls > 20 {
			t.Fatalf("%d calls failed without a backoff wait; waits so far %v", calls, got)
		}
		select {
		case err := <-res:
			if err == nil {
				t.Fatal("a call succeeded with the server down")
			}
			res = call()
		case d := <-fc.waits:
			got = append(got, d)
			if len(got) == len(want) {
				e.start() // the next dial finds it
			}
			fc.fire <- fc.now
		case <-ctx.Done():
			t.Fatalf("no backoff wait; waits so far %v", got)
		}
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoff waits %v, want %v", got, want)
		}
	}
	select {
	case err := <-res:
		if err != nil {
			t.Fatalf("call after the server came back: %v", err)
		}
	case d := <-fc.waits:
		t.Fatalf("waited %v more after the server came back", d)
	case <-ctx.Done():
		t.Fatal("call did not return")
	}
}

// TestEndPassReleasesPreparedSessionAndKeepsConnection: a data session a
// pass prepared and left behind ends at EndPass, on the server too, and
// the next pass's requests use the same connection.
func TestEndPassReleasesPreparedSessionAndKeepsConnection(t *testing.T) {
	e := newEnvUDP(t, true, nil)
	ep := e.mustDial(func(o *remote.Options) { o.Transport = config.Auto })
	ctx := context.Background()
	src := t.TempDir()
	item := endpoint.Transfer{Source: fileEntry(t, src, "a.bin", []byte("left behind"))}
	ep.Prepare(ctx, []endpoint.Transfer{item}, false) // never released by the pass
	waitLog(t, e, "download=false peer=", 1)
	ep.EndPass()
	waitLog(t, e, "data session ended", 1)
	if _, err := ep.FreeSpace(ctx); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(e.log.String(), "session opened"); n != 1 {
		t.Fatalf("%d connections opened the folder, want 1:\n%s", n, e.log.String())
	}
}

// TestDialOutlivesTheCallerThatStartedIt: a reconnection whose caller
// gives up (the pass failed on another request and ended its context) goes
// on, and the next call uses its connection instead of dialing again. It
// used to be abandoned half-way, so a kept remote opened two connections
// after a cut where one was enough.
func TestDialOutlivesTheCallerThatStartedIt(t *testing.T) {
	e, fc, ep, ctx := downAfterOneCall(t)
	// Calls on the dead connection fail until one starts a redial, which
	// waits for the backoff: then that call's context ends.
	var waited bool
	for calls := 0; !waited; calls++ {
		if calls > 20 {
			t.Fatalf("%d calls failed without starting a redial", calls)
		}
		callCtx, callCancel := context.WithCancel(ctx)
		res := make(chan error, 1)
		go func() {
			_, err := ep.FreeSpace(callCtx)
			res <- err
		}()
		select {
		case err := <-res:
			if err == nil {
				t.Fatal("a call succeeded with the server down")
			}
		case <-fc.waits:
			waited = true
			callCancel()
			if err := <-res; !errors.Is(err, context.Canceled) {
				t.Fatalf("the call whose context ended returned %v, want context.Canceled", err)
			}
		case <-ctx.Done():
			t.Fatal("no call returned or waited")
		}
		callCancel()
	}
	e.start()
	fc.fire <- fc.now // the backoff ends; the dial goes on without its caller
	res := make(chan error, 1)
	go func() {
		_, err := ep.FreeSpace(ctx)
		res <- err
	}()
	select {
	case err := <-res:
		if err != nil {
			t.Fatalf("call after the server came back: %v", err)
		}
	case d := <-fc.waits:
		t.Fatalf("the next call dialed again (backoff %v): the first dial was abandoned with its caller", d)
	case <-ctx.Done():
		t.Fatal("call did not return")
	}
}
