package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/ferry-sync/ferry/agent"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/halt"
	"github.com/ferry-sync/ferry/service/api"
	"github.com/ferry-sync/ferry/snapshot"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/transport/remote"
	"github.com/ferry-sync/ferry/tree"
)

// schemaVersion is the schema_version of every --json document
// (docs/json.md). It changes only when a field changes meaning or goes
// away; new fields do not change it.
const schemaVersion = 1

// statusDoc is `ferry status --json`.
type statusDoc struct {
	SchemaVersion int `json:"schema_version"`
	// AgentRunning is false when the jobs come from the state directory
	// (no agent answered): then only last, halt and conflicts are known.
	AgentRunning bool              `json:"agent_running"`
	Jobs         []agent.JobStatus `json:"jobs"`
}

// conflictsDoc is `ferry conflicts --json`.
type conflictsDoc struct {
	SchemaVersion int            `json:"schema_version"`
	Job           string         `json:"job"`
	Conflicts     []api.Conflict `json:"conflicts"`
}

// syncDoc is `ferry sync --json`, with and without --dry-run.
type syncDoc struct {
	SchemaVersion int    `json:"schema_version"`
	Job           string `json:"job"`
	DryRun        bool   `json:"dry_run"`
	// Pass is the pass's record (not in a dry run).
	Pass *snapshot.PassRecord `json:"pass,omitempty"`
	// Plan is what the pass would do (dry run only, unless it halted).
	Plan *planDoc `json:"plan,omitempty"`
	// Halt is why the pass halted (exit 3).
	Halt *haltDoc `json:"halt,omitempty"`
	// Error is why the pass failed or left paths undone (exit 1).
	Error     string        `json:"error,omitempty"`
	Transport *transportDoc `json:"transport,omitempty"`
}

// haltDoc is a halt's facts with its explanation and fix.
type haltDoc struct {
	halt.Halt
	Reason string `json:"reason"`
	Fix    string `json:"fix"`
}

func newHaltDoc(h *halt.Halt) *haltDoc {
	if h == nil {
		return nil
	}
	return &haltDoc{Halt: *h, Reason: h.Reason(), Fix: h.Fix()}
}

// planDoc is a dry run's plan.
type planDoc struct {
	Counts    syncer.Counts          `json:"counts"`
	Ops       []planOp               `json:"ops"`
	Conflicts []api.Conflict         `json:"conflicts"`
	Problems  []snapshot.ProblemPath `json:"problems"`
}

// planOp is one change to one side, in the words printPlan uses.
type planOp struct {
	Side string `json:"side"` // the side it changes: local or remote
	Kind string `json:"kind"`
	Path string `json:"path"`
	// From is where a rename or copy takes the path from.
	From string `json:"from,omitempty"`
	// Size is the file's size when the path becomes a file (create,
	// update, rename, copy), else 0.
	Size int64 `json:"size"`
	// Target is a symlink's target.
	Target string `json:"target,omitempty"`
}

// opKind names op's change as printPlan does.
func opKind(op syncer.Op) string {
	switch op.Kind {
	case syncer.OpTransfer:
		if op.Expect.Exists() {
			return "update"
		}
		return "create"
	case syncer.OpMkdir:
		return "mkdir"
	case syncer.OpSymlink:
		return "symlink"
	case syncer.OpSetMeta:
		return "set_meta"
	case syncer.OpRemove:
		return "delete"
	case syncer.OpRename:
		return "rename"
	case syncer.OpCopy:
		return "copy"
	case syncer.OpCopyAside:
		return "conflict_copy"
	}
	return op.Kind.String()
}

func newPlanDoc(p *syncer.Plan) *planDoc {
	d := &planDoc{Counts: p.Count(), Ops: []planOp{}, Conflicts: api.NewConflicts(p.Conflicts), Problems: []snapshot.ProblemPath{}}
	for _, side := range []struct {
		name string
		ops  []syncer.Op
	}{{"local", p.Local}, {"remote", p.Remote}} {
		for _, op := range side.ops {
			o := planOp{Side: side.name, Kind: opKind(op), Path: op.Path}
			switch op.Kind {
			case syncer.OpRename:
				o.From = op.Expect.Path
			case syncer.OpCopy:
				o.From = op.From.Path
			case syncer.OpSymlink:
				o.Target = op.Entry.Target
			}
			if op.Kind != syncer.OpRemove && op.Kind != syncer.OpCopyAside && op.Entry.Kind == tree.File {
				o.Size = op.Entry.Size
			}
			d.Ops = append(d.Ops, o)
		}
	}
	for _, pr := range p.Problems {
		d.Problems = append(d.Problems, snapshot.ProblemPath{Side: pr.Side, Path: pr.Path, Problem: pr.Problem})
	}
	return d
}

// transportDoc is what the UDP data session measured, as the text
// summary's "transport:" line.
type transportDoc struct {
	// UDP is false when nothing went over a UDP data session (nothing to
	// move, or streamed over SSH, or through a proxy).
	UDP           bool    `json:"udp"`
	Proxy         string  `json:"proxy,omitempty"`
	RetransmitPct float64 `json:"retransmit_pct"`
	LostPackets   uint64  `json:"lost_packets"`
	RTT           float64 `json:"rtt_s"`
	Rate          float64 `json:"rate_bps"`
	DatagramBytes int     `json:"datagram_bytes"`
	// Sessions is how many UDP data sessions the last batch ran on.
	Sessions int `json:"sessions"`
	// Server is the server connected at the end of the pass, for a URL
	// that names several.
	Server string `json:"server,omitempty"`
}

// newTransportDoc is nil for a local remote.
func newTransportDoc(ep endpoint.Endpoint) *transportDoc {
	r, ok := ep.(*remote.Endpoint)
	if !ok {
		return nil
	}
	st, udp := r.DataStats()
	d := &transportDoc{UDP: udp}
	if r.Servers() > 1 {
		d.Server = r.Server()
	}
	if p, _ := r.Proxy(); p != nil {
		d.Proxy = fmt.Sprint(p)
	}
	if udp {
		d.RetransmitPct = 100 * st.RetransmitShare()
		d.LostPackets = st.LostPackets
		d.RTT = st.RTT.Seconds()
		d.Rate = st.Rate
		d.DatagramBytes = st.PacketSize
		d.Sessions = st.Sessions
	}
	return d
}

// writeJSON writes one --json document.
func writeJSON(w io.Writer, doc any) error {
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("unable to encode JSON: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
