package agent

import (
	"path/filepath"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/halt"
	"github.com/ferry-sync/ferry/syncer"
)

// SetHalt makes s show h: its reason and the one fix every front end
// gives. A nil h clears the halt.
func (s *JobStatus) SetHalt(h *halt.Halt) {
	s.Halt, s.Halted, s.Fix = h, "", ""
	if h != nil {
		s.Halted, s.Fix = h.Reason(), h.Fix()
	}
}

// folderMissing is the halt for a watched root that is gone.
func folderMissing(job config.Job, cfgFile, side string) *halt.Halt {
	h := &halt.Halt{Kind: halt.FolderMissing, Job: job.Name, Config: cfgFile, Side: side, Root: job.Local}
	sig := job.LocalSignature
	if side == syncer.SideRemote {
		h.Root, sig = job.Remote, job.RemoteSignature
	}
	if sig != "" {
		h.Path = sigPath(h.Root, sig)
	}
	return h
}

// sigPath is where a signature setting points: relative to the root, or an
// absolute path inside it.
func sigPath(root, sig string) string {
	if filepath.IsAbs(sig) {
		return filepath.Clean(sig)
	}
	return filepath.Join(root, sig)
}
