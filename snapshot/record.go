package snapshot

import (
	"time"

	"github.com/ferry-sync/ferry/halt"
)

// PassRecord is the outcome of one sync pass, kept for `ferry status`.
type PassRecord struct {
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Created int       `json:"created"`
	Updated int       `json:"updated"`
	Deleted int       `json:"deleted"`
	// Renamed counts renames and directory moves made on a side from
	// content it held (nothing sent); Copied, files made by a local copy
	// of content the side held under another name.
	Renamed   int   `json:"renamed,omitempty"`
	Copied    int   `json:"copied,omitempty"`
	Conflicts int   `json:"conflicts"`
	Problems  int   `json:"problems"`
	Skipped   int   `json:"skipped"` // changed between scan and apply
	Bytes     int64 `json:"bytes"`
	// InSync is the size of the file content the pass brought in sync:
	// Bytes (what was sent) plus what renames and local copies reused.
	InSync int64 `json:"in_sync,omitempty"`
	// InTheWay counts the planned paths left undone because a file ferry
	// did not create is in the way; each is also one of Problems, named
	// in ProblemPaths with the reason and the fix.
	InTheWay int `json:"in_the_way,omitempty"`
	// ProblemPaths names the first MaxProblemPaths of the Problems, in
	// path order, so status can show them without the log.
	ProblemPaths []ProblemPath `json:"problem_paths,omitempty"`
	// Halt is why the pass halted before doing anything, if it did, and
	// Halted its Reason (kept for records written before Halt existed).
	Halt   *halt.Halt `json:"halt,omitempty"`
	Halted string     `json:"halted,omitempty"`
	// Recovered is set when the snapshot was found damaged before or
	// during this pass and replaced by a fresh one: the pass had no
	// trustworthy ancestor, so it deleted nothing.
	Recovered *Recovery `json:"recovered,omitempty"`
	// DiskSpaceLow names each side this pass wrote files to that it
	// expected to leave with less free space than the job's
	// disk_space_warning share.
	DiskSpaceLow []DiskSpaceLow `json:"disk_space_low,omitempty"`
	// Err is a failure other than a halt.
	Err string `json:"err,omitempty"`
	// Scoped is how many changed paths a scoped pass was limited to (their
	// subtrees; see syncer.Options.Within); 0 for a pass over the whole
	// tree, including one asked to be scoped that had to run whole.
	Scoped int `json:"scoped,omitempty"`
	// Interrupted: the pass was cancelled (Ctrl-C, the agent stopping or
	// the job stopped) before it finished. What it did is counted above;
	// it is not a failure, and Err is empty.
	Interrupted bool `json:"interrupted,omitempty"`
}

// MaxProblemPaths bounds PassRecord.ProblemPaths: a tree with thousands of
// unreadable files should not make every status request carry them all.
const MaxProblemPaths = 20

// ProblemPath is one path a scan could not read, or a pass could not
// write because a file ferry did not create is in the way; the pass left
// it alone on both sides.
type ProblemPath struct {
	Side    string `json:"side"` // "local" or "remote"
	Path    string `json:"path"`
	Problem string `json:"problem"`
}

// DiskSpaceLow is a side left short of free space by a pass's transfers:
// the space before them, what they needed, and the share under which
// ferry warns.
type DiskSpaceLow struct {
	Side   string  `json:"side"` // "local" or "remote"
	Free   uint64  `json:"free_bytes"`
	Needed uint64  `json:"needed_bytes"`
	Total  uint64  `json:"total_bytes"`
	Share  float64 `json:"warning_share"` // 0.05 is 5%
}

// Left is the free space the side would have after the transfers.
func (d DiskSpaceLow) Left() uint64 {
	if d.Free > d.Needed {
		return d.Free - d.Needed
	}
	return 0
}
