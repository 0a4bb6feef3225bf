package localfs

import "fmt"

// CommitStep names a point inside Writer.Commit. A process may die at any
// of them; Options.Failpoint lets a test stop there (as bbolt's failpoints
// do) to prove that the next pass still finishes the path.
type CommitStep int

// The steps of a Commit, in order. A crash before CommitRenamed leaves a
// complete partial file that still carries ferry's mark (the
// user.ferry.partial attribute or the checkpoint file beside it), so the
// next attempt resumes or replaces it; a crash from CommitRenamed on
// leaves the file in place.
const (
	// CommitSized: the partial file has its final size.
	CommitSized CommitStep = iota + 1
	// CommitVerified: its content hashed to the expected value.
	CommitVerified
	// CommitModeSet: it has its final permission bits.
	CommitModeSet
	// CommitDated: it has the source's mtime.
	CommitDated
	// CommitSynced: its content and metadata are on disk.
	CommitSynced
	// CommitRenamed: it is in place under its final name.
	CommitRenamed
	// CommitUntagged: the user.ferry.partial attribute is off the final
	// file.
	CommitUntagged
	// CommitDirSynced: the rename is on disk.
	CommitDirSynced
	// CommitUnmarked: the checkpoint file beside the partial is gone; the
	// commit is complete. It is the last step.
	CommitUnmarked
)

func (s CommitStep) String() string {
	switch s {
	case CommitSized:
		return "sized"
	case CommitVerified:
		return "verified"
	case CommitModeSet:
		return "mode-set"
	case CommitDated:
		return "dated"
	case CommitSynced:
		return "synced"
	case CommitRenamed:
		return "renamed"
	case CommitUntagged:
		return "untagged"
	case CommitDirSynced:
		return "dir-synced"
	case CommitUnmarked:
		return "unmarked"
	}
	return fmt.Sprintf("step%d", int(s))
}

// reached calls the failpoint, if any, for path at step s.
func (w *Writer) reached(s CommitStep) {
	if w.fs.failpoint != nil {
		w.fs.failpoint(s, w.path)
	}
}
