package remote

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

var (
	// ErrUnknownHostKey: the server's host key is not in known_hosts.
	ErrUnknownHostKey = errors.New("unknown host key")
	// ErrHostKeyChanged: known_hosts holds a different key for the server.
	ErrHostKeyChanged = errors.New("host key changed")
)

// HostKeyError says which server key was refused and what to do.
type HostKeyError struct {
	Host        string // as written in known_hosts, e.g. [example.com]:33001
	KeyType     string
	Fingerprint string // SHA256:...
	KnownHosts  string
	Changed     bool
	Known       []knownhosts.KnownKey // the keys on record, when Changed
	Revoked     bool
	// Job and Config fill in the command a user runs to trust the key.
	Job, Config string
}

func (e *HostKeyError) Error() string {
	if e.Revoked {
		return fmt.Sprintf("host key %s %s of %s is marked revoked in %s: refusing to connect", e.KeyType, e.Fingerprint, e.Host, e.KnownHosts)
	}
	if e.Changed {
		var was []string
		for _, k := range e.Known {
			was = append(was, fmt.Sprintf("%s %s (%s line %d)", k.Key.Type(), ssh.FingerprintSHA256(k.Key), k.Filename, k.Line))
		}
		return fmt.Sprintf("WARNING: THE HOST KEY OF %s HAS CHANGED: it now presents %s %s, but %s records %s. "+
			"Someone may be intercepting the connection, or the server's key was replaced. ferry will not connect. "+
			"If you know the key was replaced, remove the old line from %s and run ferry sync --accept-new-host-key --config %s %s",
			e.Host, e.KeyType, e.Fingerprint, e.KnownHosts, strings.Join(was, ", "), e.KnownHosts, orDefault(e.Config, "CONFIG"), orDefault(e.Job, "JOB"))
	}
	return fmt.Sprintf("unknown host key for %s: %s %s is not in %s; check the fingerprint with the server's admin "+
		"(ferry serve logs it at start), then run ferry sync --accept-new-host-key --config %s %s to trust it",
		e.Host, e.KeyType, e.Fingerprint, e.KnownHosts, orDefault(e.Config, "CONFIG"), orDefault(e.Job, "JOB"))
}

func (e *HostKeyError) Unwrap() error {
	if e.Changed || e.Revoked {
		return ErrHostKeyChanged
	}
	return ErrUnknownHostKey
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// hostKeyCallback checks the server's key against file, recording an
// unknown key when acceptNew is set.
func hostKeyCallback(file string, acceptNew bool, job, cfg string, log *slog.Logger) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		if err := ensureFile(file); err != nil {
			return err
		}
		check, err := knownhosts.New(file)
		if err != nil {
			return fmt.Errorf("unable to read known hosts %s: %w", file, err)
		}
		err = check(hostname, remote, key)
		if err == nil {
			return nil
		}
		hkErr := &HostKeyError{
			Host: knownhosts.Normalize(hostname), KeyType: key.Type(), Fingerprint: ssh.FingerprintSHA256(key),
			KnownHosts: file, Job: job, Config: cfg,
		}
		var revoked *knownhosts.RevokedError
		if errors.As(err, &revoked) {
			hkErr.Revoked = true
			return hkErr
		}
		var ke *knownhosts.KeyError
		if !errors.As(err, &ke) {
			return fmt.Errorf("unable to check host key of %s: %w", hostname, err)
		}
		if len(ke.Want) > 0 {
			hkErr.Changed = true
			hkErr.Known = ke.Want
			log.Error("host key changed; refusing to connect", "host", hkErr.Host, "fingerprint", hkErr.Fingerprint, "known_hosts", file)
			return hkErr
		}
		if !acceptNew {
			return hkErr
		}
		line := knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key)
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("unable to record host key in %s: %w", file, err)
		}
		if _, err := f.WriteString(line + "\n"); err != nil {
			f.Close()
			return fmt.Errorf("unable to record host key in %s: %w", file, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("unable to record host key in %s: %w", file, err)
		}
		log.Warn("trusted new host key", "host", hkErr.Host, "key", key.Type()+" "+hkErr.Fingerprint, "known_hosts", file)
		return nil
	}
}

// ensureFile creates an empty known_hosts (and its directory) if missing.
func ensureFile(file string) error {
	if _, err := os.Stat(file); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unable to read known hosts %s: %w", file, err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("unable to create known hosts %s: %w", file, err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("unable to create known hosts %s: %w", file, err)
	}
	return f.Close()
}
