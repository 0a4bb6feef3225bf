package syncer

import (
	"context"

	"github.com/ferry-sync/ferry/tree"
)

// Preview does everything a pass does before its first change and returns
// the plan: the folder-pair and signature checks, both scans merged with
// the ancestor, the reconcile and the safety guards (a halt is returned as
// the same *HaltError a pass would return). It changes nothing on either
// side and writes nothing to the snapshot: no pass record, no scan cache,
// and a damaged snapshot is reported, not replaced; its scans leave stale
// partial files where they are. It
// does not ask the folders whether they fold case (that writes a probe
// file), so it plans as if they did not: a case or normalisation clash is
// found by the pass itself.
func Preview(ctx context.Context, opts Options) (Plan, error) {
	opts.defaults()
	p, err := planPass(ctx, &opts, true, func() {}, tree.Scope{}, nil)
	if err != nil {
		return Plan{}, err
	}
	return p.plan, nil
}

// SideCounts is what a plan does to one side, in the words a person uses.
type SideCounts struct {
	// Created: new files, directories and links (received or copied).
	Created int `json:"created"`
	// Updated: files overwritten with new content, and paths whose mode
	// or mtime only change.
	Updated int `json:"updated"`
	// Deleted: paths removed (a directory counts once).
	Deleted int `json:"deleted"`
	// Renamed: paths moved on this side instead of sent.
	Renamed int `json:"renamed"`
	// Copied: new files made from a copy of content this side holds, not
	// sent (also counted in Created).
	Copied int `json:"copied"`
	// ConflictCopies: versions kept aside as conflict copies.
	ConflictCopies int `json:"conflict_copies"`
	// Files and Bytes: the files sent to this side and their size; block
	// delta and resumed partials may send less.
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}

// Counts are a plan's totals per side.
type Counts struct {
	Local     SideCounts `json:"local"`
	Remote    SideCounts `json:"remote"`
	Conflicts int        `json:"conflicts"`
	Problems  int        `json:"problems"`
}

// Count totals a plan.
func (p *Plan) Count() Counts {
	return Counts{
		Local: countSide(p.Local), Remote: countSide(p.Remote),
		Conflicts: len(p.Conflicts), Problems: len(p.Problems),
	}
}

func countSide(ops []Op) SideCounts {
	var c SideCounts
	for _, op := range ops {
		switch op.Kind {
		case OpCopyAside:
			c.ConflictCopies++
		case OpRemove:
			c.Deleted++
		case OpMkdir, OpSymlink:
			if op.Expect.Exists() {
				c.Updated++
			} else {
				c.Created++
			}
		case OpTransfer:
			if op.Expect.Exists() {
				c.Updated++
			} else {
				c.Created++
			}
			c.Files++
			c.Bytes += op.Entry.Size
		case OpSetMeta:
			c.Updated++
		case OpRename:
			c.Renamed++
			if op.Edit {
				c.Files++
				c.Bytes += op.Entry.Size
			}
		case OpCopy:
			c.Created++
			c.Copied++
		}
	}
	return c
}
