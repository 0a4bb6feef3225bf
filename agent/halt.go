package agent

import (
	"path/filepath"
	"strings"

	"github.com/ferry-sync/ferry/config"
)

// explainHalt turns a pass's halt reason into a plain-words status line
// that ends with what to do, and the bare command that fixes it (empty
// when only the user can judge).
func explainHalt(job config.Job, cfgFile, reason string) (why, fix string) {
	low := strings.ToLower(reason)
	allow := "ferry sync --allow-deletes --config " + shellQuote(cfgFile) + " " + shellQuote(job.Name)
	switch {
	case strings.Contains(low, "signature") && strings.Contains(low, "remote"):
		p := sigPath(job.Remote, job.RemoteSignature)
		if u := job.RemoteURL; u != nil {
			p = sigPath(u.Path, job.RemoteSignature)
			fix = "ssh " + shellQuote(u.User+"@"+u.Host) + " touch " + shellQuote(p)
			return "remote signature file " + p + " on " + u.Host +
				" is missing — is the remote drive mounted? create it with: " + fix, fix
		}
		fix = "touch " + shellQuote(p)
		return "remote signature file " + p + " is missing — is the drive mounted? create it with: " + fix, fix
	case strings.Contains(low, "signature"):
		p := sigPath(job.Local, job.LocalSignature)
		fix = "touch " + shellQuote(p)
		return "local signature file " + p + " is missing — is the drive mounted? create it with: " + fix, fix
	case strings.Contains(low, "max_delete") || strings.Contains(low, "max-delete") ||
		strings.Contains(low, "too many deletions") || strings.Contains(low, "would delete"):
		return strings.TrimSuffix(reason, ".") + " — if the deletions are intended, run: " + allow, allow
	case strings.Contains(low, "empt") || strings.Contains(low, "root") && strings.Contains(low, "missing"):
		return strings.TrimSuffix(reason, ".") +
			" — is the drive mounted? if the folder really was emptied on purpose, run: " + allow, allow
	}
	return reason, ""
}

func sigPath(root, sig string) string {
	if sig == "" {
		sig = ".ferry-signature"
	}
	if filepath.IsAbs(sig) {
		return sig
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
