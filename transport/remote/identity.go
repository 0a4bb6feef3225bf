package remote

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// identity is how the client proves who it is: the key in the job's
// identity file, or keys a running ssh-agent holds (SSH_AUTH_SOCK).
//
// The identity file wins when it can be used: a key without a passphrase
// is used alone. A key with a passphrase is used through the agent, which
// must hold it (ssh-add). With no identity file at the default path
// (~/.ssh/id_ed25519) every key the agent holds is offered, as OpenSSH
// does. An identity file set in the job that does not exist is an error.
type identity struct {
	// signer is the identity file's key; nil when the agent signs.
	signer ssh.Signer
	// sock is the agent's socket; only, when set, the agent's key equal to
	// only is offered (the identity file is protected by a passphrase).
	sock string
	only ssh.PublicKey
	// file names the identity file, for messages.
	file string
}

// loadIdentity reads file (defaultFile is where the identity is looked
// for when the job sets none) and decides between it and the agent at
// sock ("" when no agent runs).
func loadIdentity(file, defaultFile, sock string) (identity, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) && sock != "" && filepath.Clean(file) == filepath.Clean(defaultFile) {
		return identity{sock: sock, file: file}, nil
	}
	if err != nil {
		return identity{}, fmt.Errorf("unable to read identity %s (set identity: in the job, or run an ssh-agent holding the key): %w", file, err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	var pm *ssh.PassphraseMissingError
	if errors.As(err, &pm) {
		if sock == "" || pm.PublicKey == nil {
			return identity{}, fmt.Errorf("identity %s is protected by a passphrase and no ssh-agent holds it: run an ssh-agent and `ssh-add %s` (SSH_AUTH_SOCK must reach ferry), or make a key without one (ssh-keygen -t ed25519 -N '')", file, file)
		}
		return identity{sock: sock, only: pm.PublicKey, file: file}, nil
	}
	if err != nil {
		if _, _, _, _, perr := ssh.ParseAuthorizedKey(b); perr == nil {
			return identity{}, &PublicKeyError{File: file}
		}
		return identity{}, fmt.Errorf("unable to parse identity %s: %w", file, err)
	}
	return identity{signer: signer, file: file}, nil
}

// PublicKeyError is an identity file that holds a public key (a .pub
// file, or an authorized_keys line) where the private key belongs.
type PublicKeyError struct {
	File string
}

// Private is the private key's likely path: File without ".pub", or ""
// when File does not end so.
func (e *PublicKeyError) Private() string {
	if p, ok := strings.CutSuffix(e.File, ".pub"); ok && p != "" {
		return p
	}
	return ""
}

func (e *PublicKeyError) Error() string {
	msg := fmt.Sprintf("identity %s is a public key; identity: must name the private key", e.File)
	if p := e.Private(); p != "" {
		msg += fmt.Sprintf(": set identity: %s", p)
		if _, err := os.Stat(p); err != nil {
			msg += " (it does not exist here: copy it from where the key was made)"
		}
		return msg
	}
	return msg + " it pairs with (the file ssh-keygen wrote beside the .pub)"
}

// signers returns the keys to offer. With the agent, it connects to it;
// close, when not nil, ends that connection once the handshake is over.
func (id identity) signers() (keys []ssh.Signer, close func(), err error) {
	if id.signer != nil {
		return []ssh.Signer{id.signer}, nil, nil
	}
	c, err := net.Dial("unix", id.sock)
	if err != nil {
		return nil, nil, fmt.Errorf("unable to reach the ssh-agent at %s (SSH_AUTH_SOCK): %w", id.sock, err)
	}
	all, err := agent.NewClient(c).Signers()
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("unable to list the keys of the ssh-agent at %s: %w", id.sock, err)
	}
	for _, s := range all {
		if id.only == nil || bytes.Equal(s.PublicKey().Marshal(), id.only.Marshal()) {
			keys = append(keys, s)
		}
	}
	if len(keys) == 0 {
		c.Close()
		if id.only != nil {
			return nil, nil, fmt.Errorf("the ssh-agent at %s does not hold the key of identity %s (%s): run `ssh-add %s`",
				id.sock, id.file, ssh.FingerprintSHA256(id.only), id.file)
		}
		return nil, nil, fmt.Errorf("no identity file at %s and the ssh-agent at %s holds no key: set identity: in the job, or ssh-add a key", id.file, id.sock)
	}
	return keys, func() { c.Close() }, nil
}

// describe names the keys offered, for a refusal.
func describe(keys []ssh.Signer) string {
	if len(keys) == 1 {
		return "key " + ssh.FingerprintSHA256(keys[0].PublicKey())
	}
	s := fmt.Sprintf("the %d keys of the ssh-agent (", len(keys))
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		s += ssh.FingerprintSHA256(k.PublicKey())
	}
	return s + ")"
}
