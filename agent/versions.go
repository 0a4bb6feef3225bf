package agent

import (
	"errors"
	"io/fs"
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/versions"
)

// pruneVersions prunes the version stores of the job's folders on this
// machine (the local one, and the remote one when it is a local path) by
// the job's policy on the agent's clock, and records their disk use for
// status. A ferry:// server prunes its own, by its owner's policy.
func (r *runner) pruneVersions() {
	policy := config.VersionsPolicy(r.job.Versions)
	dirs := []string{r.job.Local}
	if r.job.RemoteURL == nil && r.job.Remote != "" {
		dirs = append(dirs, r.job.Remote)
	}
	var total int64
	for _, dir := range dirs {
		n, err := pruneFolder(dir, policy, r.a.clock.Now)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				r.log.Debug("no version store to prune", "folder", dir, "err", err)
			} else {
				r.log.Warn("unable to prune versions", "folder", dir, "err", err)
			}
		}
		total += n
	}
	r.mu.Lock()
	r.status.VersionsBytes = total
	r.mu.Unlock()
}

// pruneFolder prunes dir's store, if policy keeps versions, and returns
// what the store holds then.
func pruneFolder(dir string, policy versions.Policy, now func() time.Time) (int64, error) {
	s, err := versions.Open(dir, versions.Options{Now: now})
	if err != nil {
		return 0, err
	}
	defer s.Close()
	var perr error
	if policy.Keeps() {
		_, perr = s.Prune(policy)
	}
	u, err := s.Usage()
	return u.Bytes, errors.Join(perr, err)
}
