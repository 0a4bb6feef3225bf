package main

import (
	"fmt"
	"strings"

	"github.com/ferry-sync/ferry/agent"
)

// failing reports whether a job needs a person: it is halted, or its last
// pass halted or failed (what `ferry status` shows as "halted" or
// "failed") and nobody stopped it.
func failing(j agent.JobStatus) bool {
	if j.State == agent.Halted || j.Halt != nil || j.Halted != "" {
		return true
	}
	if j.State == agent.Stopped {
		// A person stopped it; its last pass is often the one the stop
		// interrupted, recorded with the context's error.
		return false
	}
	return j.Last != nil && (j.Last.Err != "" || j.Last.Halt != nil || j.Last.Halted != "")
}

// attentionError is `ferry status`'s exit 1: a job shown is halted or its
// last pass failed, so a cron line or a monitoring check can act on it.
type attentionError struct{ jobs []string }

func (a attentionError) Error() string {
	if len(a.jobs) == 1 {
		return fmt.Sprintf("job %s is halted or its last pass failed (see above)", a.jobs[0])
	}
	return fmt.Sprintf("jobs %s are halted or their last pass failed (see above)", strings.Join(a.jobs, ", "))
}

// needsAttention is nil when no job in jobs is failing.
func needsAttention(jobs []agent.JobStatus) error {
	var names []string
	for _, j := range jobs {
		if failing(j) {
			names = append(names, j.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return attentionError{names}
}
