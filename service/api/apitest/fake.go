// Package apitest holds a stand-in for the agent, for tests of the control
// API, the page and the CLI.
package apitest

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/conflict"
)

// Fake is an in-memory controller: Stop, Resume, Resolve and SetBandwidth
// change the reported status the way the agent would. Safe for concurrent
// use.
type Fake struct {
	mu        sync.Mutex
	jobs      []agent.JobStatus
	conflicts map[string][]conflict.Record
	calls     []string
	fail      error
	// history and historyEnd are what RateHistory reports.
	history    map[string][]float64
	historyEnd time.Time
}

// New returns a fake reporting jobs, with conflicts by job name.
func New(jobs []agent.JobStatus, conflicts map[string][]conflict.Record) *Fake {
	f := &Fake{jobs: slices.Clone(jobs), conflicts: map[string][]conflict.Record{}}
	for k, v := range conflicts {
		f.conflicts[k] = slices.Clone(v)
	}
	for i := range f.jobs {
		f.jobs[i].Conflicts = len(f.conflicts[f.jobs[i].Name])
	}
	return f
}

// Fail makes every state-changing call return err (nil to stop).
func (f *Fake) Fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

// Calls returns the state-changing calls so far, as "stop docs" etc.
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Update changes the named job's status with fn.
func (f *Fake) Update(name string, fn func(*agent.JobStatus)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := f.index(name); i >= 0 {
		fn(&f.jobs[i])
	}
}

// Jobs implements the controller.
func (f *Fake) Jobs() []agent.JobStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.jobs)
	for i := range out {
		out[i].Transfers = slices.Clone(out[i].Transfers)
	}
	return out
}

// RateHistory implements the controller: each job's history, all zero
// unless set with SetHistory.
func (f *Fake) RateHistory() []agent.RateHistory {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]agent.RateHistory, 0, len(f.jobs))
	for _, j := range f.jobs {
		h := agent.RateHistory{Job: j.Name, End: f.historyEnd, Rates: make([]float64, agent.HistoryLen)}
		copy(h.Rates[agent.HistoryLen-min(agent.HistoryLen, len(f.history[j.Name])):], f.history[j.Name])
		out = append(out, h)
	}
	return out
}

// SetHistory sets the last seconds of a job's rate history, ending at end.
func (f *Fake) SetHistory(name string, end time.Time, rates []float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.history == nil {
		f.history = map[string][]float64{}
	}
	f.history[name] = slices.Clone(rates)
	f.historyEnd = end
}

func (f *Fake) index(name string) int {
	return slices.IndexFunc(f.jobs, func(j agent.JobStatus) bool { return j.Name == name })
}

// change records a call and applies fn to the job, under the lock.
func (f *Fake) change(call, name string, fn func(*agent.JobStatus) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call+" "+name)
	if f.fail != nil {
		return f.fail
	}
	i := f.index(name)
	if i < 0 {
		return fmt.Errorf("no job named %q", name)
	}
	return fn(&f.jobs[i])
}

// Stop implements the controller.
func (f *Fake) Stop(name string) error {
	return f.change("stop", name, func(j *agent.JobStatus) error {
		j.State, j.Transfers, j.Progress = agent.Stopped, nil, agent.Progress{}
		return nil
	})
}

// Resume implements the controller.
func (f *Fake) Resume(name string) error {
	return f.change("resume", name, func(j *agent.JobStatus) error {
		if j.State != agent.Stopped && j.State != agent.Halted {
			return fmt.Errorf("job %q is %s, not stopped", name, j.State)
		}
		j.State = agent.Idle
		j.SetHalt(nil)
		return nil
	})
}

// SyncNow asks for a plain pass.
func (f *Fake) SyncNow(name string) error {
	return f.SyncNowWith(name, agent.SyncNowOptions{})
}

// SyncNowWith implements the controller.
func (f *Fake) SyncNowWith(name string, o agent.SyncNowOptions) error {
	call := "sync-now"
	if o.AllowDeletes {
		call += " --allow-deletes"
	}
	if o.AllowChanges {
		call += " --allow-changes"
	}
	return f.change(call, name, func(j *agent.JobStatus) error {
		if j.State == agent.Stopped {
			return fmt.Errorf("job %q is stopped: resume it first", name)
		}
		j.State = agent.Scanning
		return nil
	})
}

// ResetSync implements the controller.
func (f *Fake) ResetSync(name string) error {
	return f.change("reset-sync", name, func(j *agent.JobStatus) error {
		delete(f.conflicts, name)
		j.Conflicts = 0
		j.SetHalt(nil)
		return nil
	})
}

// Conflicts implements the controller.
func (f *Fake) Conflicts(name string) ([]conflict.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.index(name) < 0 {
		return nil, fmt.Errorf("no job named %q", name)
	}
	return slices.Clone(f.conflicts[name]), nil
}

// Resolve implements the controller.
func (f *Fake) Resolve(name string, paths []string) error {
	return f.change("resolve", name, func(j *agent.JobStatus) error {
		f.conflicts[name] = slices.DeleteFunc(f.conflicts[name], func(r conflict.Record) bool {
			return slices.Contains(paths, r.Path)
		})
		j.Conflicts = len(f.conflicts[name])
		return nil
	})
}

// SetBandwidth implements the controller.
func (f *Fake) SetBandwidth(name string, bw config.Bandwidth) error {
	return f.change("bandwidth", name, func(j *agent.JobStatus) error {
		if bw.Schedule == nil { // as the agent does
			bw.Schedule = j.Bandwidth.Schedule
		}
		j.Bandwidth = bw
		return nil
	})
}
