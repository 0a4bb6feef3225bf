package conflict

import "time"

// Reason says why a path is in conflict.
type Reason string

const (
	BothModified     Reason = "both modified"
	PermissionDenied Reason = "permission denied"
	TypeClash        Reason = "type clash"
	CaseClash        Reason = "case clash"
	DeletedModified  Reason = "deleted on one side, modified on the other"
)

// Side is one side's view of a conflicting path.
type Side struct {
	Kind  string `json:"kind"` // tree.Kind.String()
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime_ns"`
}

// Record is one unresolved conflict.
type Record struct {
	Path   string    `json:"path"`
	Reason Reason    `json:"reason"`
	Local  Side      `json:"local"`
	Remote Side      `json:"remote"`
	Time   time.Time `json:"time"`
	// Copy is the conflict copy's name, when the local file was renamed.
	Copy string `json:"copy,omitempty"`
}
