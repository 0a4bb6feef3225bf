package syncer

import "time"

// Phase is what a pass is doing.
type Phase string

const (
	PhaseScanning     Phase = "scanning"
	PhaseTransferring Phase = "transferring"
	PhaseDone         Phase = "done"
	PhaseHalted       Phase = "halted"
)

// Event reports a pass's progress to whoever watches it (the agent, the
// one-shot progress bar, the logs). Totals are for the current pass.
type Event struct {
	Time  time.Time
	Phase Phase
	// Path and Delta: Delta more bytes of Path were moved (Phase
	// transferring), or, with FileDone, Path finished (Err says how).
	Path  string
	Delta int64
	// Size is the size of the file at Path when the pass transfers it
	// (0 for other ops), so that a watcher can show a file's share done.
	Size int64
	// Download: the file at Path (with Size) comes to the local side.
	Download bool
	// Reused: the Delta bytes did not cross the link; the receiving side
	// took them from content it held (a block delta's chunks of the
	// current version, a resumed partial).
	Reused bool
	// To is the side the Delta bytes were written to (SideLocal or
	// SideRemote).
	To       string
	FileDone bool
	Err      error
	// Op is the kind of change that finished (with FileDone); From, for
	// OpRename and OpCopy, is the path on the same side whose content
	// Path was made from, without sending it.
	Op   OpKind
	From string
	// Running totals of the pass. Files are the ops on anything but a
	// directory.
	FilesDone, FilesTotal int
	BytesDone, BytesTotal int64
	// SoFar: the totals count what the pass has planned so far, and more
	// is to come. A first sync plans and applies its tree a batch at a
	// time, so its totals grow until its last batch.
	SoFar bool
}

// Observer receives events. It is called from the pass's goroutines and
// must not block.
type Observer func(Event)
