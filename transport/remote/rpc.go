package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferry-sync/ferry/transport/control"
)

// A server refuses requests beyond its per-connection limit with
// ResourceShortage; open waits between busyWaitMin and a second before
// asking again, for at most busyWaitMax in all.
const (
	busyWaitMin = 5 * time.Millisecond
	busyWaitMax = 2 * time.Minute
)

// channel is one request's SSH channel with its framing buffers.
type channel struct {
	ch         ssh.Channel
	c          *conn
	ctx        context.Context
	local      atomic.Bool // closed by us, so read errors are expected
	greeting   bool        // the Hello's own channel
	rbuf, wbuf []byte
	stop       func() bool
	closeOnce  sync.Once
}

// open starts req on a new channel of c. The channel closes when ctx is
// done, which unblocks any read or write on it.
func open(ctx context.Context, c *conn, req control.Msg) (*channel, error) {
	payload := control.Append(nil, req)
	var ch ssh.Channel
	var reqs <-chan *ssh.Request
	var err error
	wait := busyWaitMin
	var waited time.Duration
	for {
		ch, reqs, err = c.client.OpenChannel(control.ChannelType, payload)
		var oce *ssh.OpenChannelError
		if err == nil {
			break
		}
		if !errors.As(err, &oce) {
			c.kill()
			if herr := c.refusedHello(); herr != nil {
				return nil, herr // the connection ended because of it
			}
			return nil, fmt.Errorf("%w: %w", ErrDisconnected, err)
		}
		// The server runs as many of this connection's requests as it
		// allows: wait for some of ours to finish and ask again.
		if oce.Reason != ssh.ResourceShortage || waited >= busyWaitMax {
			return nil, &refusedError{reason: oce.Reason, msg: oce.Message}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-c.dead:
			t.Stop()
			return nil, fmt.Errorf("%w: connection closed", ErrDisconnected)
		case <-t.C:
		}
		waited += wait
		wait = min(2*wait, time.Second)
	}
	go ssh.DiscardRequests(reqs)
	_, greeting := req.(control.Hello)
	k := &channel{ch: ch, c: c, ctx: ctx, greeting: greeting}
	k.stop = context.AfterFunc(ctx, func() { ch.Close() })
	return k, nil
}

func (k *channel) send(m control.Msg) error {
	var err error
	k.wbuf, err = control.WriteFrame(k.ch, k.wbuf, m)
	if err != nil {
		return k.lost(err)
	}
	return nil
}

// lost reports a transport failure on the channel. Unless we caused it,
// the whole connection is presumed dead and closed, so that the next call
// dials again instead of failing on a socket the SSH layer has not yet
// noticed is gone.
func (k *channel) lost(err error) error {
	if k.ctx.Err() == nil && !k.local.Load() {
		k.c.kill()
	}
	if !k.greeting {
		if herr := k.c.refusedHello(); herr != nil {
			return herr // the connection ended because of it
		}
	}
	return fmt.Errorf("%w: %w", ErrDisconnected, err)
}

// recv reads the next message; an Error message comes back as its error.
func (k *channel) recv() (control.Msg, error) {
	m, buf, err := control.ReadFrame(k.ch, k.rbuf)
	k.rbuf = buf
	if err != nil {
		if errors.Is(err, control.ErrMalformed) {
			return nil, err
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, k.lost(err)
	}
	if e, ok := m.(control.Error); ok {
		if herr := k.helloFailed(); herr != nil {
			return nil, herr
		}
		return nil, e.Err()
	}
	return m, nil
}

// helloFailed is the Hello's error if it failed: requests sent behind a
// Hello the server refused fail with that error rather than their own
// ("no folder chosen").
func (k *channel) helloFailed() error {
	if k.greeting {
		return nil
	}
	if err := k.c.ready(k.ctx); k.ctx.Err() == nil {
		return err
	}
	return nil
}

func (k *channel) close() {
	k.closeOnce.Do(func() {
		k.local.Store(true)
		k.stop()
		k.ch.Close()
	})
}

// refusedError is a request the server turned away as it was opened:
// reason is ssh.Prohibited for one it could not parse (a field newer than
// the server), ssh.ResourceShortage for one over its limit.
type refusedError struct {
	reason ssh.RejectionReason
	msg    string
}

func (e *refusedError) Error() string {
	return control.ErrProtocol.Error() + ": server refused request: " + e.msg
}

func (e *refusedError) Unwrap() error { return control.ErrProtocol }

// call runs a request with a single answer.
func call(ctx context.Context, c *conn, req control.Msg) (control.Msg, error) {
	k, err := open(ctx, c, req)
	if err != nil {
		return nil, err
	}
	defer k.close()
	m, err := k.recv()
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return m, err
}

// expect narrows an answer to the type a request is answered with.
func expect[T control.Msg](m control.Msg, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	t, ok := m.(T)
	if !ok {
		return zero, fmt.Errorf("%w: unexpected answer %T, want %T", control.ErrProtocol, m, zero)
	}
	return t, nil
}

// do runs a request on the live connection.
func (e *Endpoint) do(ctx context.Context, req control.Msg) (control.Msg, error) {
	c, err := e.conn(ctx)
	if err != nil {
		return nil, err
	}
	return call(ctx, c, req)
}

// openOn opens a streaming request on the live connection.
func (e *Endpoint) openOn(ctx context.Context, req control.Msg) (*channel, error) {
	c, err := e.conn(ctx)
	if err != nil {
		return nil, err
	}
	return open(ctx, c, req)
}
