package syncer

import (
	"errors"
	"fmt"
	"math"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/tree"
)

// ErrHalted is wrapped by every error that stops a pass before it changes
// anything: a safety check fired. The job stays halted until the cause is
// fixed; HaltError says what to do.
var ErrHalted = errors.New("sync halted")

// The reasons a pass halts. Each is wrapped by a *HaltError that also
// matches ErrHalted.
var (
	// ErrSignatureMissing: a configured signature file is absent, which
	// usually means the folder is an empty mount point.
	ErrSignatureMissing = errors.New("signature file missing")
	// ErrRootEmptied: a side that held files is now empty.
	ErrRootEmptied = errors.New("root emptied")
	// ErrTooManyDeletes: the plan deletes more than max_delete allows.
	ErrTooManyDeletes = errors.New("too many deletions")
	// ErrPairChanged: the job's folders are not the ones its records
	// describe (the config now points elsewhere).
	ErrPairChanged = errors.New("folder pair changed")
)

// HaltError is why a pass halted and how to fix it.
type HaltError struct {
	// Kind is one of ErrSignatureMissing, ErrRootEmptied, ErrTooManyDeletes.
	Kind error
	// Reason says what happened and to which path, in plain words.
	Reason string
	// Fix is the command or action that lets the job proceed.
	Fix string
}

func (e *HaltError) Error() string {
	if e.Fix == "" {
		return e.Reason
	}
	return e.Reason + "; " + e.Fix
}

// Is makes a HaltError match ErrHalted and its Kind.
func (e *HaltError) Is(target error) bool {
	return target == ErrHalted || target == e.Kind
}

// Side names.
const (
	SideLocal  = "local"
	SideRemote = "remote"
)

// defaultMaxDelete applies when a job carries the zero Limit.
var defaultMaxDelete = config.Limit{IsPercent: true, Percent: 50}

// signatureMissing is the halt for a signature file that Stat could not
// find at path (relative to the side's root) on side.
func signatureMissing(side, root, path string) *HaltError {
	return &HaltError{
		Kind: ErrSignatureMissing,
		Reason: fmt.Sprintf("the %s signature file %q is missing from %s; nothing was changed",
			side, path, root),
		Fix: fmt.Sprintf("check that %s is mounted, or create the file %q in it if the folder is right", root, path),
	}
}

// rootEmptied halts when a side that had at least two entries in the
// ancestor now has none: an unmounted disk or a wiped folder must not be
// propagated as a mass deletion. --allow-deletes (allow) lets a deliberate
// emptying through; reset-sync would instead copy everything back.
func rootEmptied(ancestor, scanned []tree.Entry, side, root string, job config.Job, configFile string, allow bool) *HaltError {
	if allow || len(ancestor) < 2 || len(scanned) > 0 {
		return nil
	}
	if configFile == "" {
		configFile = "CONFIG"
	}
	return &HaltError{
		Kind: ErrRootEmptied,
		Reason: fmt.Sprintf("the %s folder %s is empty but held %d entries at the last sync; nothing was changed",
			side, root, len(ancestor)),
		Fix: fmt.Sprintf("check that %s is mounted; if it was emptied on purpose, run `ferry sync --allow-deletes --config %s %s` to delete the same on the other side",
			root, configFile, job.Name),
	}
}

// folderPair identifies the two folders a job's records describe.
func folderPair(job config.Job) string {
	return job.Local + " <-> " + job.Remote
}

// pairChanged halts when the snapshot was built for other folders than the
// job now names: reconciling against those records would read every file
// the new folder lacks as deleted, and delete it on the other side.
func pairChanged(recorded string, job config.Job, configFile string) *HaltError {
	if recorded == "" || recorded == folderPair(job) {
		return nil
	}
	if configFile == "" {
		configFile = "CONFIG"
	}
	return &HaltError{
		Kind: ErrPairChanged,
		Reason: fmt.Sprintf("job %q now pairs %s, but its sync records are of %s; using them could delete files, so nothing was changed",
			job.Name, folderPair(job), recorded),
		Fix: fmt.Sprintf("if the new folders are right, run `ferry reset-sync --config %s %s`: the next pass compares both folders afresh and deletes nothing",
			configFile, job.Name),
	}
}

// deleteLimit returns how many deletions on one side max_delete allows
// given the ancestor's size. The unset Limit means the default, 50%; an
// explicit count of 0 allows none.
func deleteLimit(limit config.Limit, ancestor int) int {
	if limit.IsZero() {
		limit = defaultMaxDelete
	}
	if !limit.IsPercent {
		return limit.Count
	}
	return int(math.Floor(limit.Percent / 100 * float64(ancestor)))
}

// tooManyDeletes halts when either side's planned deletions exceed
// max_delete, unless allow (--allow-deletes) lifts it for this pass.
func tooManyDeletes(p *Plan, ancestor int, job config.Job, configFile string, allow bool) *HaltError {
	if allow {
		return nil
	}
	max := deleteLimit(job.MaxDelete, ancestor)
	side, n := SideLocal, p.LocalDeletes
	if p.RemoteDeletes > n {
		side, n = SideRemote, p.RemoteDeletes
	}
	if n <= max {
		return nil
	}
	limit := fmt.Sprintf("%d", job.MaxDelete.Count)
	if l := job.MaxDelete; l.IsPercent || l.IsZero() {
		if !l.IsPercent {
			l = defaultMaxDelete
		}
		limit = fmt.Sprintf("%g%% of %d = %d", l.Percent, ancestor, max)
	}
	if configFile == "" {
		configFile = "CONFIG"
	}
	return &HaltError{
		Kind: ErrTooManyDeletes,
		Reason: fmt.Sprintf("the pass would delete %d entries on the %s side, more than max_delete allows (%s); nothing was changed",
			n, side, limit),
		Fix: fmt.Sprintf("if the deletions are intended, run `ferry sync --allow-deletes --config %s %s` to proceed",
			configFile, job.Name),
	}
}
