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
	var total int64
	for _, dir := range localFolders(r.job) {
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

// VersionsBytes is the disk use of the version stores of job's folders on
// this machine, for a status read without a running agent.
func VersionsBytes(job config.Job) (int64, error) {
	var total int64
	var errs []error
	for _, dir := range localFolders(job) {
		s, err := versions.Open(dir, versions.Options{})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		u, err := s.Usage()
		s.Close()
		total += u.Bytes
		errs = append(errs, err)
	}
	return total, errors.Join(errs...)
}

// localFolders are the job's folders on this machine.
func localFolders(job config.Job) []string {
	dirs := []string{job.Local}
	if job.RemoteURL == nil && job.Remote != "" {
		dirs = append(dirs, job.Remote)
	}
	return dirs
}
