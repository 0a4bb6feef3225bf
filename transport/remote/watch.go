package remote

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferry-sync/ferry/transport/control"
	"github.com/ferry-sync/ferry/tree"
)

// Watch asks the server to watch the folder (less what exclude matches)
// and calls notify with each batch of changed paths; rescan is set each
// time the watch is armed (first, and after every reconnection: changes
// in between raised no notice) and when the server lost events. It
// watches again after a lost connection, dialling with the endpoint's
// backoff, and waits as long before asking again when a watch ends before
// it was armed. It returns when ctx ends, the endpoint closes, or the
// server answers with an error: control.ErrNoWatch when it cannot watch
// (the message names the cause and the sysctl to raise), or another when
// it does not know the request (a server of an earlier release).
func (e *Endpoint) Watch(ctx context.Context, exclude []string, notify func(paths []string, rescan bool)) error {
	b := backoff{min: e.opts.RedialMin, max: e.opts.RedialMax, rand: e.opts.Rand}
	for {
		armed, err := e.watchOnce(ctx, exclude, notify)
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
// server had started watching.
func (e *Endpoint) watchOnce(ctx context.Context, exclude []string, notify func([]string, bool)) (armed bool, err error) {
	k, err := e.openOn(ctx, control.Watch{Exclude: exclude})
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
		notify(c.Paths, c.Rescan)
	}
}
