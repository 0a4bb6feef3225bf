package api

import (
	"time"

	"github.com/ferry-sync/ferry/conflict"
)

// Conflict is one unresolved conflict as GET /api/v1/jobs/{name}/conflicts
// and `ferry conflicts --json` write it (docs/json.md). It is not
// conflict.Record, whose JSON is the snapshot's stored format (mtime_ns):
// the wire has times in RFC 3339.
type Conflict struct {
	Path   string          `json:"path"`
	Reason conflict.Reason `json:"reason"`
	Local  ConflictSide    `json:"local"`
	Remote ConflictSide    `json:"remote"`
	// Time is when the conflict was found; absent in a dry run's plan.
	Time time.Time `json:"time,omitzero"`
	// Copy is the conflict copy's name, when the local file was renamed.
	Copy  string               `json:"copy,omitempty"`
	Clash []conflict.ClashName `json:"clash,omitempty"`
}

// ConflictSide is one side's view of a conflicting path.
type ConflictSide struct {
	Kind string `json:"kind"` // file, dir, symlink or absent
	Size int64  `json:"size"`
	// Mtime is absent when the path is absent on this side.
	Mtime time.Time `json:"mtime,omitzero"`
}

// NewConflict is r on the wire.
func NewConflict(r conflict.Record) Conflict {
	side := func(s conflict.Side) ConflictSide {
		out := ConflictSide{Kind: s.Kind, Size: s.Size}
		if out.Kind == "" {
			out.Kind = "absent"
		}
		if out.Kind != "absent" || s.Mtime != 0 {
			out.Mtime = time.Unix(0, s.Mtime).UTC()
		}
		return out
	}
	return Conflict{
		Path: r.Path, Reason: r.Reason, Local: side(r.Local), Remote: side(r.Remote),
		Time: r.Time, Copy: r.Copy, Clash: r.Clash,
	}
}

// NewConflicts is recs on the wire, never nil.
func NewConflicts(recs []conflict.Record) []Conflict {
	out := make([]Conflict, 0, len(recs))
	for _, r := range recs {
		out = append(out, NewConflict(r))
	}
	return out
}

// Record is c as the rest of ferry holds it.
func (c Conflict) Record() conflict.Record {
	side := func(s ConflictSide) conflict.Side {
		out := conflict.Side{Kind: s.Kind, Size: s.Size}
		if !s.Mtime.IsZero() {
			out.Mtime = s.Mtime.UnixNano()
		}
		return out
	}
	return conflict.Record{
		Path: c.Path, Reason: c.Reason, Local: side(c.Local), Remote: side(c.Remote),
		Time: c.Time, Copy: c.Copy, Clash: c.Clash,
	}
}
