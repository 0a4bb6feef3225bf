package conflict

import "time"

// Reason says why a path is in conflict.
type Reason string

const (
	BothModified     Reason = "both modified"
	PermissionDenied Reason = "permission denied"
	TypeClash        Reason = "type clash"
	// CaseClash: names that differ only by case (and perhaps Unicode
	// normalisation) would land on a side whose filesystem takes them
	// for one file; none of them was written there.
	CaseClash Reason = "case clash"
	// NormalizationClash: canonically equivalent names (the NFC and NFD
	// spellings of "café") would land on a side whose filesystem takes
	// them for one file; none of them was written there.
	NormalizationClash Reason = "normalisation clash"
	DeletedModified    Reason = "deleted on one side, modified on the other"
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
	// Clash lists every colliding name of a case or normalisation clash
	// (Path is the first of them) and the sides that hold each.
	Clash []ClashName `json:"clash,omitempty"`
}

// ClashName is one of the colliding names of a clash.
type ClashName struct {
	Path   string `json:"path"`
	Local  bool   `json:"local,omitempty"`
	Remote bool   `json:"remote,omitempty"`
}

// Names returns the colliding names of a clash, or nil.
func (r Record) Names() []string {
	if len(r.Clash) == 0 {
		return nil
	}
	out := make([]string, len(r.Clash))
	for i, n := range r.Clash {
		out[i] = n.Path
	}
	return out
}
