// Package halt describes why a sync pass stopped before it changed anything,
// and what the owner does about it. A Halt is plain data (it is stored with
// the pass record and sent by the control API); Reason and Fix are the only
// places its words are written, so the CLI, `ferry status`, the API and the
// web page give the same advice.
package halt

import (
	"fmt"
	"strings"
)

// Kind is what fired.
type Kind string

// The kinds of halt.
const (
	// SignatureMissing: a configured signature file is absent, which
	// usually means the folder is an empty mount point.
	SignatureMissing Kind = "signature-missing"
	// RootEmptied: a side that held files at the last sync is now empty.
	RootEmptied Kind = "root-emptied"
	// TooManyDeletes: the plan deletes more than max_delete allows.
	TooManyDeletes Kind = "too-many-deletes"
	// TooManyChanges: the plan overwrites more files than max_change
	// allows (ransomware on the other side looks like this).
	TooManyChanges Kind = "too-many-changes"
	// PairChanged: the job's folders are not the ones its records describe.
	PairChanged Kind = "pair-changed"
	// FolderMissing: a side's folder itself is gone (seen by the agent's
	// watcher before a pass is tried).
	FolderMissing Kind = "folder-missing"
	// WrongPassphrase: the job's passphrase does not open the encrypted
	// remote (its .ferry-crypt key check fails).
	WrongPassphrase Kind = "wrong-passphrase"
	// NotEncrypted: the job encrypts, but its remote holds files and no
	// .ferry-crypt: they are plaintext, or another job's.
	NotEncrypted Kind = "not-encrypted"
	// Encrypted: the remote holds a .ferry-crypt, but the job has no
	// encryption block.
	Encrypted Kind = "encrypted"
)

// Error is a halt found below the engine, by an endpoint (an encrypted
// remote's key check): the engine fills in the job and the side and
// halts the pass with it.
type Error struct {
	Kind Kind
}

func (e *Error) Error() string {
	switch e.Kind {
	case WrongPassphrase:
		return "wrong passphrase for the encrypted remote"
	case NotEncrypted:
		return "the remote holds files and no .ferry-crypt, and the job encrypts"
	case Encrypted:
		return "the remote is encrypted (it holds .ferry-crypt), and the job has no encryption block"
	}
	return fmt.Sprintf("the pass halted (%s)", e.Kind)
}

// Side names, as the syncer spells them.
const (
	Local  = "local"
	Remote = "remote"
)

// Halt is one halt: the facts, never prose.
type Halt struct {
	Kind Kind `json:"kind"`
	// Job is the job's name and Config the jobs file it was read from;
	// every command in Fix names both.
	Job    string `json:"job"`
	Config string `json:"config,omitempty"`
	// Side is Local or Remote; Root is that side's folder (for a ferry://
	// remote, the URL's path, inside the server's root for the user), and
	// Host (user@host) is set when that is a ferry:// remote.
	Side string `json:"side,omitempty"`
	Root string `json:"root,omitempty"`
	Host string `json:"host,omitempty"`
	// Path is the signature file (absolute, or for a ferry:// remote a URL
	// path) for
	// SignatureMissing, and for FolderMissing when the job has one.
	Path string `json:"path,omitempty"`
	// Count is how many entries the last sync recorded (RootEmptied), how
	// many the pass would delete on Side (TooManyDeletes) or how many files
	// it would overwrite there (TooManyChanges).
	Count int `json:"count,omitempty"`
	// Limit is how many deletions max_delete (or overwrites max_change)
	// allows, and Rule how it was set ("50%", "10"), for TooManyDeletes
	// and TooManyChanges.
	Limit int    `json:"limit,omitempty"`
	Rule  string `json:"rule,omitempty"`
	// Recorded and Current are the folder pairs for PairChanged.
	Recorded string `json:"recorded,omitempty"`
	Current  string `json:"current,omitempty"`
	// Agent is set while a running agent (`ferry run`) holds the job:
	// `ferry sync` is then refused, and Fix asks the agent instead
	// (`ferry sync-now --allow-deletes --wait`).
	Agent bool `json:"agent,omitempty"`
}

// Other returns the side opposite h.Side.
func (h *Halt) Other() string {
	if h.Side == Remote {
		return Local
	}
	return Remote
}

// where names the side's folder, with its host for a ferry:// remote.
func (h *Halt) where() string {
	if h.Host != "" {
		return h.Root + " on " + hostOnly(h.Host)
	}
	return h.Root
}

// Reason says what happened, in plain words and in one line.
func (h *Halt) Reason() string {
	switch h.Kind {
	case SignatureMissing:
		return fmt.Sprintf("the %s signature file %s is missing from %s, so the folder may not be mounted; nothing was changed",
			h.Side, h.Path, h.where())
	case RootEmptied:
		return fmt.Sprintf("the %s folder %s is empty but held %d entries at the last sync; nothing was changed",
			h.Side, h.where(), h.Count)
	case TooManyDeletes:
		return fmt.Sprintf("the pass would delete %d entries on the %s side, more than max_delete allows (%s); nothing was changed",
			h.Count, h.Side, h.limit())
	case TooManyChanges:
		return fmt.Sprintf("the pass would overwrite %d files on the %s side, more than max_change allows (%s); nothing was changed",
			h.Count, h.Side, h.limit())
	case PairChanged:
		return fmt.Sprintf("job %q now pairs %s, but its sync records are of %s; using them could delete files, so nothing was changed",
			h.Job, h.Current, h.Recorded)
	case FolderMissing:
		return fmt.Sprintf("the %s folder %s is missing; nothing was changed", h.Side, h.where())
	case WrongPassphrase:
		return fmt.Sprintf("job %s: wrong passphrase for the encrypted remote %s; nothing was changed", h.Job, h.where())
	case NotEncrypted:
		return fmt.Sprintf("job %s encrypts, but the remote %s holds files and no .ferry-crypt (plaintext, or another tool's); ferry does not mix plaintext and ciphertext, so nothing was changed",
			h.Job, h.where())
	case Encrypted:
		return fmt.Sprintf("the remote %s is encrypted (it holds .ferry-crypt), but job %s has no encryption block; nothing was changed", h.where(), h.Job)
	}
	return fmt.Sprintf("the pass halted (%s); nothing was changed", h.Kind)
}

// Fix says what to do, one choice per line, each naming the command that
// carries it out with the job's jobs file. It is the only advice any
// front end gives for a halt.
func (h *Halt) Fix() string {
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	switch h.Kind {
	case SignatureMissing:
		if h.Host != "" {
			add("if %s is a mount point, mount it; if the folder is right, recreate the signature file %s on %s, %s",
				h.where(), h.Path, hostOnly(h.Host), h.served())
		} else {
			add("if %s is a mount point, mount it; if the folder is right, recreate the signature file: touch %s", h.where(), Quote(h.Path))
		}
		add("a running agent then carries on by itself at its next pass; without one, run: %s", h.command("sync"))
	case RootEmptied:
		add("if %s was emptied by mistake or is not mounted, restore or mount it: the next pass then carries on and deletes nothing", h.where())
		add("if it was emptied on purpose, delete the same %d entries on the %s side with: %s", h.Count, h.Other(), h.allowDeletes())
		add("(%s is not a fix for this: it forgets the last sync, so the next pass copies everything back from the %s side)", h.command("reset-sync"), h.Other())
	case TooManyDeletes:
		add("if the deletions are intended, run: %s", h.allowDeletes())
		add("if not, find out why those entries are gone from the %s side; nothing is deleted until then", h.Other())
	case TooManyChanges:
		add("if the changes are intended, run: %s", h.allowChanges())
		add("if not, find out why so many files changed on the %s side (files encrypted by ransomware look like this); nothing is overwritten until then", h.Other())
	case PairChanged:
		add("if the new folders are right, run: %s (the next pass compares both folders afresh and deletes nothing)", h.command("reset-sync"))
		add("if not, point the job in %s back at %s", h.configName(), h.Recorded)
	case FolderMissing:
		switch {
		case h.Host != "" && h.Path != "":
			add("mount %s, or create it with its signature file %s on %s, %s", h.where(), h.Path, hostOnly(h.Host), h.served())
		case h.Host != "":
			add("mount %s, or create it on %s, %s", h.where(), hostOnly(h.Host), h.served())
		case h.Path != "":
			add("mount %s, or create it with its signature file: mkdir -p %s && touch %s", h.where(), Quote(h.Root), Quote(h.Path))
		default:
			add("mount %s, or create it: mkdir -p %s", h.where(), Quote(h.Root))
		}
		add("the job carries on by itself once the folder is back")
	case WrongPassphrase:
		add("give the job the passphrase the remote was encrypted with (encryption.passphrase_file or passphrase_env in %s)", h.configName())
		add("then run: %s", h.command("sync"))
	case NotEncrypted:
		add("point the job at an empty folder, or at one an encrypted job made (with its .ferry-crypt), in %s", h.configName())
		add("to encrypt the files already there, seed a new folder with ferry encrypt and point the job at it")
	case Encrypted:
		add("add the encryption block with the remote's passphrase to the job in %s (see docs/encryption.md)", h.configName())
	}
	return strings.Join(lines, "\n")
}

// limit is how a count limit reads: "10", or "50% of 40 = 20".
func (h *Halt) limit() string {
	limit := fmt.Sprint(h.Limit)
	if h.Rule != "" && h.Rule != limit {
		limit = h.Rule + " = " + limit
	}
	return limit
}

// command is `ferry VERB [flags] --config FILE JOB`.
func (h *Halt) command(verb string, flags ...string) string {
	parts := append([]string{"ferry", verb}, flags...)
	if h.Config != "" {
		parts = append(parts, "--config", Quote(h.Config))
	}
	return strings.Join(append(parts, Quote(h.Job)), " ")
}

// allowDeletes is the command that runs one pass with the deletions
// allowed: through the agent when one holds the job, else `ferry sync`.
func (h *Halt) allowDeletes() string {
	if h.Agent {
		return h.command("sync-now", "--allow-deletes", "--wait")
	}
	return h.command("sync", "--allow-deletes")
}

// allowChanges is the command that lets one pass overwrite past
// max_change, as allowDeletes is for deletions.
func (h *Halt) allowChanges() string {
	if h.Agent {
		return h.command("sync-now", "--allow-changes", "--wait")
	}
	return h.command("sync", "--allow-changes")
}

// served says where a ferry:// path lies on the server: the path in the
// URL is inside the folder `ferry serve` gives the user, not a path of the
// server's own filesystem, so no command run there with it as written
// (ssh HOST touch PATH) would reach the file.
func (h *Halt) served() string {
	user := "the user"
	if u, _, ok := strings.Cut(h.Host, "@"); ok && u != "" {
		user = "user " + Quote(u)
	}
	return "inside the folder the server gives " + user + " (its --root, or that user's root in server.yaml)"
}

func (h *Halt) configName() string {
	if h.Config == "" {
		return "the jobs file"
	}
	return h.Config
}

func hostOnly(userHost string) string {
	if i := strings.LastIndexByte(userHost, '@'); i >= 0 {
		return userHost[i+1:]
	}
	return userHost
}

// Quote quotes s for a POSIX shell when it needs it.
func Quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./@:+=,%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
