package api

import (
	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/conflict"
)

// Controller is what the API needs from the agent; *agent.Agent satisfies it.
// Methods are called concurrently from request goroutines.
type Controller interface {
	Jobs() []agent.JobStatus
	// RateHistory is each job's rate in each of its last seconds.
	RateHistory() []agent.RateHistory
	Stop(job string) error
	Resume(job string) error
	// SyncNowWith asks for a pass now; o changes that pass only.
	SyncNowWith(job string, o agent.SyncNowOptions) error
	ResetSync(job string) error
	Conflicts(job string) ([]conflict.Record, error)
	Resolve(job string, paths []string) error
	SetBandwidth(job string, bw config.Bandwidth) error
}
