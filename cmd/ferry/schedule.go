package main

import (
	"context"
	"sync"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/config"
)

// followSchedule applies job's bandwidth.schedule for as long as a
// one-shot pass runs, on e's clock: the caps start as the rules in force
// now say, and a rule that fires during the pass changes the transfers in
// flight. It returns the caps for remoteOptions.limits and the function
// that stops following.
func followSchedule(ctx context.Context, e *env, job *config.Job) (func() (config.Bandwidth, <-chan struct{}), func(), error) {
	s, err := agent.NewSchedule(job.Bandwidth, e.clock)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.Run(ctx)
	}()
	return s.Limits().Load, func() { cancel(); wg.Wait() }, nil
}
