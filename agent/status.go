package agent

import (
	"time"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/halt"
	"github.com/ferry-sync/ferry/snapshot"
)

// State is what a job is doing now.
type State string

const (
	Idle         State = "idle"
	Scanning     State = "scanning"
	Transferring State = "transferring"
	Halted       State = "halted"
	Stopped      State = "stopped"
	// Queued: the pass has files to move and waits for a transfer slot
	// (max_concurrent_transfers) that other jobs hold; JobStatus.Ahead
	// says how many transfers go first.
	Queued State = "queued"
)

// Progress is the current pass's progress. Files are all but directories.
// Bytes count what crosses the link: what the receiving side already held
// (a resumed partial, a block delta's unchanged chunks) is BytesReused,
// out of both BytesDone and BytesTotal, so that rate and ETA are the
// link's.
type Progress struct {
	FilesDone   int           `json:"files_done"`
	FilesTotal  int           `json:"files_total"`
	BytesDone   int64         `json:"bytes_done"`
	BytesTotal  int64         `json:"bytes_total"`
	BytesReused int64         `json:"bytes_reused"`
	Rate        float64       `json:"rate_bps"` // bits per second, recent
	ETA         time.Duration `json:"-"`        // on the wire as eta_s (json.go)
	// SoFar: the totals are of what the pass planned so far (a first
	// sync plans a batch at a time); more is to come, so there is no ETA.
	SoFar bool `json:"so_far,omitempty"`
}

// TransferStatus is one file in flight: Done of its Size is in place, of
// which Reused was already on the receiving side; Rate is of the bytes
// sent. TargetRate, MinRate, RTT and RetransmitPct are the data session's
// while one runs (else the job's settings, and RTT 0).
type TransferStatus struct {
	Path          string        `json:"path"`
	Size          int64         `json:"size"`
	Done          int64         `json:"done"`
	Reused        int64         `json:"reused"`
	Rate          float64       `json:"rate_bps"`
	TargetRate    float64       `json:"target_bps"`
	MinRate       float64       `json:"min_bps"`
	Policy        string        `json:"policy"`
	RetransmitPct float64       `json:"retransmit_pct"`
	RTT           time.Duration `json:"-"` // on the wire as rtt_s (json.go)
	ETA           time.Duration `json:"-"` // on the wire as eta_s (json.go)

	download bool // the file comes to the local side
}

// JobStatus is everything the control API reports about one job.
type JobStatus struct {
	Name      string           `json:"name"`
	Local     string           `json:"local"`
	Remote    string           `json:"remote"`
	Direction config.Direction `json:"direction"`
	Mode      config.Mode      `json:"mode"`
	// Config is the jobs file the job comes from, for the commands a
	// front end suggests.
	Config string `json:"config,omitempty"`
	State  State  `json:"state"`
	// Ahead is, while State is Queued, how many transfers of other jobs
	// hold or wait for a slot before this job's.
	Ahead int `json:"ahead,omitempty"`
	// Halt is why the job is halted, nil when it is not (or when the
	// reason is not a halt of a pass, such as an unreadable state
	// directory); Halted is its Reason and Fix its Fix, which SetHalt
	// keeps in step, so that a client shows the engine's words.
	Halt      *halt.Halt           `json:"halt,omitempty"`
	Halted    string               `json:"halted,omitempty"` // reason, plain words
	Fix       string               `json:"fix,omitempty"`    // what to do, one choice per line
	Progress  Progress             `json:"progress"`
	NextPass  time.Time            `json:"next_pass,omitzero"`
	Last      *snapshot.PassRecord `json:"last,omitempty"`
	Conflicts int                  `json:"conflicts"`
	Transfers []TransferStatus     `json:"transfers,omitempty"`
	Bandwidth config.Bandwidth     `json:"bandwidth"`
	// Sessions is how many UDP data sessions the job's transfers run on
	// at once (its sessions key; 1 by default).
	Sessions int `json:"sessions"`
	// Server is, for a remote URL that names several servers, the one
	// the running pass is on, or the last pass ended on.
	Server string `json:"server,omitempty"`
	// Unwatched is set while a continuous job has directories it cannot
	// watch.
	Unwatched *Unwatched `json:"unwatched,omitempty"`
	// VersionsBytes is the disk use of the version stores of the job's
	// folders on this machine, measured after the last pass.
	VersionsBytes int64 `json:"versions_bytes"`
}

// RateHistory is a job's rate in each of the last seconds.
type RateHistory struct {
	Job string `json:"job"`
	// End is the end of the last second; Rates are bits per second,
	// one per second, oldest first.
	End   time.Time `json:"end"`
	Rates []float64 `json:"rates_bps"`
}

// Unwatched is a continuous job's directories that cannot be watched (the
// inotify watch limit, permissions): changes below them raise no event,
// so a pass every Every picks them up until they can be watched.
type Unwatched struct {
	Dirs  int           `json:"dirs"`          // not watched, nor anything below them
	Dir   string        `json:"dir"`           // the first of them
	Limit bool          `json:"limit"`         // the inotify watch limit is the cause
	Err   string        `json:"err"`           // why Dir could not be watched
	Fix   string        `json:"fix,omitempty"` // what to do (at the limit: the sysctl to raise it)
	Every time.Duration `json:"-"`             // on the wire as every_s (json.go)
}
