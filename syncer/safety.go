package syncer

import (
	"errors"
	"fmt"
	"math"
	"path"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/halt"
)

// ErrHalted is wrapped by every error that stops a pass before it changes
// anything: a safety check fired. The job stays halted until the cause is
// fixed; its *HaltError says what to do.
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
	// ErrTooManyChanges: the plan overwrites more files than max_change
	// allows.
	ErrTooManyChanges = errors.New("too many changes")
	// ErrPairChanged: the job's folders are not the ones its records
	// describe (the config now points elsewhere).
	ErrPairChanged = errors.New("folder pair changed")
)

// HaltError is a halt as an error: the facts of why a pass stopped (see
// halt.Halt, whose Reason and Fix are the only words any front end shows).
type HaltError struct {
	halt.Halt
}

func (e *HaltError) Error() string { return e.Reason() }

// Is makes a HaltError match ErrHalted and the sentinel of its Kind.
func (e *HaltError) Is(target error) bool {
	if target == ErrHalted {
		return true
	}
	switch e.Kind {
	case halt.SignatureMissing:
		return target == ErrSignatureMissing
	case halt.RootEmptied:
		return target == ErrRootEmptied
	case halt.TooManyDeletes:
		return target == ErrTooManyDeletes
	case halt.TooManyChanges:
		return target == ErrTooManyChanges
	case halt.PairChanged:
		return target == ErrPairChanged
	}
	return false
}

// Side names.
const (
	SideLocal  = halt.Local
	SideRemote = halt.Remote
)

// defaultMaxDelete applies when a job carries the zero Limit.
var defaultMaxDelete = config.Limit{IsPercent: true, Percent: 50}

// newHalt starts a halt of kind for job, whose commands name configFile.
func newHalt(kind halt.Kind, job config.Job, configFile string) *HaltError {
	return &HaltError{halt.Halt{Kind: kind, Job: job.Name, Config: configFile}}
}

// onSide fills in which side halted: its folder as its host sees it, and
// for a ferry:// remote, the user@host to run a fix on.
func (e *HaltError) onSide(job config.Job, side string) *HaltError {
	e.Side, e.Root = side, job.Local
	if side == SideRemote {
		e.Root = remoteRoot(job)
		if u := job.RemoteURL; u != nil {
			e.Host = u.Host
			if u.User != "" {
				e.Host = u.User + "@" + u.Host
			}
		}
	}
	return e
}

// signatureMissing is the halt for a signature file that Stat could not
// find at rel (relative to the side's root) on side.
func signatureMissing(job config.Job, configFile, side, rel string) *HaltError {
	h := newHalt(halt.SignatureMissing, job, configFile).onSide(job, side)
	h.Path = path.Join(h.Root, rel)
	return h
}

// rootEmptied halts when a side that had at least two entries in the
// ancestor (ancestor counts them) now has none (scanned counts what its
// scan listed): an unmounted disk or a wiped folder must not be
// propagated as a mass deletion. --allow-deletes (allow) lets a deliberate
// emptying through; reset-sync would instead copy everything back.
func rootEmptied(ancestor, scanned int, side string, job config.Job, configFile string, allow bool) *HaltError {
	if allow || ancestor < 2 || scanned > 0 {
		return nil
	}
	h := newHalt(halt.RootEmptied, job, configFile).onSide(job, side)
	h.Count = ancestor
	return h
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
	h := newHalt(halt.PairChanged, job, configFile)
	h.Recorded, h.Current = recorded, folderPair(job)
	return h
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
	l := job.MaxDelete
	if l.IsZero() {
		l = defaultMaxDelete
	}
	h := newHalt(halt.TooManyDeletes, job, configFile).onSide(job, side)
	h.Count, h.Limit, h.Rule = n, max, rule(l, ancestor)
	return h
}

// rule says how a limit was set: "10", or "50% of 40".
func rule(l config.Limit, of int) string {
	if l.IsPercent {
		return fmt.Sprintf("%g%% of %d", l.Percent, of)
	}
	return fmt.Sprintf("%d", l.Count)
}

// tooManyChanges halts when either side's planned overwrites of existing
// files exceed max_change, a share of files (the regular files the last
// sync recorded) or a count, unless allow (--allow-changes) lifts it for
// this pass. A pass that rewrites most of a tree is what ransomware on
// the other side looks like; the unset Limit (the default) checks nothing.
func tooManyChanges(p *Plan, files int, job config.Job, configFile string, allow bool) *HaltError {
	l := job.MaxChange
	if allow || l.IsZero() {
		return nil
	}
	max := l.Count
	if l.IsPercent {
		max = int(math.Floor(l.Percent / 100 * float64(files)))
	}
	side, n := SideLocal, p.LocalOverwrites
	if p.RemoteOverwrites > n {
		side, n = SideRemote, p.RemoteOverwrites
	}
	if n <= max {
		return nil
	}
	h := newHalt(halt.TooManyChanges, job, configFile).onSide(job, side)
	h.Count, h.Limit, h.Rule = n, max, rule(l, files)
	return h
}
