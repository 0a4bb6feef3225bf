package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-sync/ferry/service/api"
	"github.com/ferry-sync/ferry/service/render"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
)

// syncNowPoll is how often `ferry sync-now --wait` asks the agent whether
// the pass it asked for has ended.
const syncNowPoll = 100 * time.Millisecond

// syncNowWait asks the running agent for a pass of job, waits for a pass
// that started after the request to end, prints its summary and returns
// what `ferry sync` would: nil, a halt (exit 3) or the failure (exit 1).
// A pass already running when it asks is not the one it waits for.
func syncNowWait(ctx context.Context, e *env, c *api.Client, job string, req api.SyncNowRequest) error {
	asked := time.Now()
	if _, err := c.SyncNowWith(ctx, job, req); err != nil {
		return err
	}
	t := time.NewTicker(syncNowPoll)
	defer t.Stop()
	for {
		st, err := c.Job(ctx, job)
		if err != nil {
			return err
		}
		if l := st.Last; l != nil && !l.Start.Before(asked) && !l.End.IsZero() {
			return passOutcome(e, *l)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// passOutcome prints a pass record as `ferry sync` does and returns the
// error that gives its exit code.
func passOutcome(e *env, rec snapshot.PassRecord) error {
	switch {
	case rec.Halt != nil:
		fmt.Fprintln(e.stdout, summary(rec))
		// The agent holds the job: its fix goes through the agent.
		held := *rec.Halt
		held.Agent = true
		return &syncer.HaltError{Halt: held}
	case rec.Halted != "":
		fmt.Fprintln(e.stdout, summary(rec))
		return fmt.Errorf("%w: %s", syncer.ErrHalted, rec.Halted)
	case rec.Err != "":
		return errors.New(rec.Err)
	}
	fmt.Fprintln(e.stdout, summary(rec))
	fmt.Fprint(e.stdout, render.Problems(rec))
	return undone(rec)
}
