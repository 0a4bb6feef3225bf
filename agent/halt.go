package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/syncer"
)

// explainHalt turns a halted pass into a plain-words status line that ends
// with what to do, and the bare command that fixes it (empty when there is
// no single command).
func explainHalt(job config.Job, cfgFile string, err error, reason string) (why, fix string) {
	var h *syncer.HaltError
	if !errors.As(err, &h) {
		return reason, ""
	}
	what := strings.TrimSuffix(h.Reason, ".")
	switch {
	case errors.Is(h.Kind, syncer.ErrSignatureMissing):
		return explainSignature(job, h.Reason)
	case errors.Is(h.Kind, syncer.ErrTooManyDeletes):
		fix = "ferry sync --allow-deletes --config " + shellQuote(cfgFile) + " " + shellQuote(job.Name)
		return what + " — if the deletions are intended, run: " + fix, fix
	case errors.Is(h.Kind, syncer.ErrRootEmptied):
		fix = "ferry reset-sync --config " + shellQuote(cfgFile) + " " + shellQuote(job.Name)
		return what + " — is the drive mounted? if the folder really was emptied on purpose, run: " + fix, fix
	}
	return h.Error(), ""
}

// explainSignature names the missing signature file and the touch that
// recreates it, on the remote host for a ferry:// remote.
func explainSignature(job config.Job, reason string) (why, fix string) {
	local := sigPath(job.Local, job.LocalSignature)
	remoteSide := strings.Contains(reason, "remote signature")
	if !strings.Contains(reason, "local signature") && !remoteSide && job.LocalSignature != "" {
		// The syncer's wording changed: look at the local disk instead.
		_, err := os.Lstat(local)
		remoteSide = err == nil
	}
	if !remoteSide {
		fix = "touch " + shellQuote(local)
		return "local signature file " + local + " is missing — is the drive mounted? create it with: " + fix, fix
	}
	if u := job.RemoteURL; u != nil {
		p := sigPath(u.Path, job.RemoteSignature)
		fix = "ssh " + shellQuote(u.User+"@"+u.Host) + " touch " + shellQuote(p)
		return "remote signature file " + p + " on " + u.Host +
			" is missing — is the remote drive mounted? create it with: " + fix, fix
	}
	p := sigPath(job.Remote, job.RemoteSignature)
	fix = "touch " + shellQuote(p)
	return "remote signature file " + p + " is missing — is the drive mounted? create it with: " + fix, fix
}

// sigPath is where a signature setting points: relative to the root, or an
// absolute path inside it.
func sigPath(root, sig string) string {
	if filepath.IsAbs(sig) {
		return filepath.Clean(sig)
	}
	return filepath.Join(root, sig)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./@:+=,%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
