package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// NameMode says whether an encrypted job's names are encrypted too.
type NameMode string

const (
	NamesEncrypted NameMode = "encrypted" // the default
	NamesPlain     NameMode = "plain"
)

// Encryption is a job's content protection at rest: the remote keeps only
// ciphertext (see docs/encryption.md). The zero value (Enabled false) is a
// job without encryption.
type Encryption struct {
	// Enabled is set when the job has an encryption block.
	Enabled bool `yaml:"-"`
	// PassphraseFile (absolute, ~ expanded) or PassphraseEnv (the name of
	// an environment variable) holds the passphrase; exactly one is set.
	PassphraseFile string   `yaml:"passphrase_file"`
	PassphraseEnv  string   `yaml:"passphrase_env"`
	Names          NameMode `yaml:"names"`
}

// Passphrase reads the passphrase: the file's content or the variable's
// value, less one trailing newline (an editor's or echo's). A passphrase
// file readable by group or others is refused, as ssh refuses such a
// private key: anyone who reads it reads the remote.
func (e Encryption) Passphrase() ([]byte, error) {
	var p string
	switch {
	case e.PassphraseFile != "":
		fi, err := os.Stat(e.PassphraseFile)
		if err != nil {
			return nil, fmt.Errorf("unable to read the passphrase file %s: %w", e.PassphraseFile, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("the passphrase file %s can be read by other users (mode %#o); make it private: chmod 600 %s",
				e.PassphraseFile, fi.Mode().Perm(), e.PassphraseFile)
		}
		b, err := os.ReadFile(e.PassphraseFile)
		if err != nil {
			return nil, fmt.Errorf("unable to read the passphrase file %s: %w", e.PassphraseFile, err)
		}
		p = string(b)
	case e.PassphraseEnv != "":
		p = os.Getenv(e.PassphraseEnv)
	default:
		return nil, fmt.Errorf("no passphrase: set passphrase_file or passphrase_env")
	}
	p = strings.TrimSuffix(strings.TrimSuffix(p, "\n"), "\r")
	if p == "" {
		if e.PassphraseFile != "" {
			return nil, fmt.Errorf("the passphrase file %s is empty; write the passphrase in it", e.PassphraseFile)
		}
		return nil, fmt.Errorf("the environment variable %s that should hold the passphrase is empty or not set", e.PassphraseEnv)
	}
	return []byte(p), nil
}

func (d *decoder) encryption(e *Encryption) handler {
	return func(n *yaml.Node, field string) {
		e.Enabled = true
		d.object(n, field, map[string]handler{
			"passphrase_file": d.path(&e.PassphraseFile),
			"passphrase_env":  d.str(&e.PassphraseEnv),
			"names":           d.str((*string)(&e.Names)),
		})
		if e.Names == "" {
			e.Names = NamesEncrypted
		}
	}
}

// problems checks the block, and that its passphrase can be read now, so
// a job that cannot unlock its remote fails at load with the field named.
func (e Encryption) problems(prefix string) []problem {
	if !e.Enabled {
		return nil
	}
	var ps []problem
	add := func(field, format string, args ...any) {
		ps = append(ps, problem{field: join(prefix, field), msg: fmt.Sprintf(format, args...), near: prefix})
	}
	oneOf(add, "names", string(e.Names), NamesEncrypted, NamesPlain)
	switch {
	case e.PassphraseFile != "" && e.PassphraseEnv != "":
		add("passphrase_file", "give passphrase_file or passphrase_env, not both")
		return ps
	case e.PassphraseFile == "" && e.PassphraseEnv == "":
		ps = append(ps, problem{field: prefix, msg: "needs passphrase_file or passphrase_env"})
		return ps
	}
	field := "passphrase_env"
	if e.PassphraseFile != "" {
		field = "passphrase_file"
		if fi, err := os.Stat(e.PassphraseFile); err == nil && !fi.Mode().IsRegular() {
			add(field, "%s is not a regular file", e.PassphraseFile)
			return ps
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			add(field, "unable to read %s: %v", e.PassphraseFile, err)
			return ps
		} else if err != nil {
			add(field, "%s does not exist; write the passphrase in it (chmod 600)", e.PassphraseFile)
			return ps
		}
	}
	if _, err := e.Passphrase(); err != nil {
		add(field, "%v", err)
	}
	return ps
}
