package remote

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/tree"
)

// Watch asks the server to watch the folder (less what exclude matches)
// and calls notify with each batch of changed paths and, when the server
// tells them (states nil otherwise), their states as it saw them when it
// sent the batch, in the same order; rescan is set each
// time the watch is armed (first, and after every reconnection: changes
// in between raised no notice) and when the server lost events. It
// watches again after a lost connection, dialling with the endpoint's
// backoff, and waits as long before asking again when a watch ends before
// it was armed. It returns when ctx ends, the endpoint closes, or the
// server answers with an error: control.ErrNoWatch when it cannot watch
// (the message names the cause and the sysctl to raise), or another when
// it does not know the request (a server of an earlier release).
func (e *Endpoint) Watch(ctx context.Context, exclude []string, notify func(paths []string, states []tree.Entry, rescan bool)) error {
	b := backoff{min: e.opts.RedialMin, max: e.opts.RedialMax, rand: e.opts.Rand}
	states := true
	for {
		armed, err := e.watchOnce(ctx, exclude, &states, notify)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var re *control.RemoteError
		if errors.As(err, &re) || errors.Is(err, errClosed) {
			return fmt.Errorf("unable to watch the remote folder: %w", err)
		}
		if armed {
			b.succeeded()
		} else {
			b.failed(e.opts.Clock.Now())
		}
		e.log.Info("remote watch interrupted; watching again", "err", err)
		if wait := b.wait(e.opts.Clock.Now()); wait > 0 {
			select {
			case <-e.opts.Clock.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			case <-e.stop:
				return fmt.Errorf("unable to watch the remote folder: %w", errClosed)
			}
		}
	}
}

// watchOnce runs one Watch request until it fails; armed says whether the
// server had started watching. It asks for the paths' states while
// *states holds, and clears it when the server refuses the request as one
// of an earlier release does, asking again without them.
func (e *Endpoint) watchOnce(ctx context.Context, exclude []string, states *bool, notify func([]string, []tree.Entry, bool)) (armed bool, err error) {
	k, err := e.openOn(ctx, control.Watch{Exclude: exclude, States: *states})
	if re := (*control.RemoteError)(nil); err != nil && *states && errors.Is(err, control.ErrProtocol) && !errors.As(err, &re) {
		// Refused before it was read: the server does not know States.
		e.log.Info("the server does not tell the state of changed paths; every notice asks for a pass", "err", err)
		*states = false
		k, err = e.openOn(ctx, control.Watch{Exclude: exclude})
	}
	if err != nil {
		return false, err
	}
	defer k.close()
	for {
		m, err := k.recv()
		if err != nil {
			return armed, err
		}
		c, ok := m.(control.Changed)
		if !ok {
			return armed, fmt.Errorf("%w: %T in a watch", control.ErrProtocol, m)
		}
		for _, p := range c.Paths {
			if err := tree.ValidPath(p); err != nil {
				return armed, fmt.Errorf("%w: server named an invalid path in a watch: %w", control.ErrProtocol, err)
			}
		}
		armed = true
		notify(c.Paths, c.States, c.Rescan)
	}
}
