package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/ferry-sync/ferry/crypt"
	"github.com/ferry-sync/ferry/crypt/offline"
)

// passphraseFlags are the ways `ferry encrypt` and `ferry decrypt` take a
// passphrase: a file (one trailing newline is not part of it) or an
// environment variable.
type passphraseFlags struct {
	file, env *string
	names     *string
}

func addPassphraseFlags(fs *pflag.FlagSet) passphraseFlags {
	return passphraseFlags{
		file:  fs.String("passphrase-file", "", "read the passphrase from `FILE` (one trailing newline is dropped)"),
		env:   fs.String("passphrase-env", "", "read the passphrase from the environment variable `VAR`"),
		names: fs.String("names", "encrypted", "encrypted | plain: whether the encrypted folder's names are encrypted, as the job's encryption names:"),
	}
}

func (p passphraseFlags) read() ([]byte, error) {
	var b []byte
	switch {
	case (*p.file == "") == (*p.env == ""):
		return nil, usageError{"give one of --passphrase-file FILE or --passphrase-env VAR"}
	case *p.file != "":
		var err error
		if b, err = os.ReadFile(*p.file); err != nil {
			return nil, fmt.Errorf("unable to read the passphrase: %w", err)
		}
		s := strings.TrimSuffix(string(b), "\n")
		b = []byte(strings.TrimSuffix(s, "\r"))
	default:
		b = []byte(os.Getenv(*p.env))
	}
	if len(b) == 0 {
		return nil, usageError{"the passphrase is empty"}
	}
	return b, nil
}

func (p passphraseFlags) plainNames() (bool, error) {
	switch *p.names {
	case "encrypted":
		return false, nil
	case "plain":
		return true, nil
	}
	return false, usageError{fmt.Sprintf("--names %q is not encrypted or plain", *p.names)}
}

// cryptArgs are what `ferry encrypt` and `ferry decrypt` both start from.
type cryptArgs struct {
	src, dst string
	pass     []byte
	plain    bool
	// info describes src.
	info os.FileInfo
}

// args reads the SRC and DST arguments (usage says what they are when
// they are not two), the passphrase and --names, and stats SRC, for the
// command that does verb.
func (p passphraseFlags) args(args []string, verb, usage string) (cryptArgs, error) {
	if len(args) != 2 {
		return cryptArgs{}, usageError{usage}
	}
	a := cryptArgs{src: args[0], dst: args[1]}
	var err error
	if a.pass, err = p.read(); err != nil {
		return cryptArgs{}, err
	}
	if a.plain, err = p.plainNames(); err != nil {
		return cryptArgs{}, err
	}
	if a.info, err = os.Stat(a.src); err != nil {
		return cryptArgs{}, fmt.Errorf("unable to %s: %w", verb, err)
	}
	return a, nil
}

// problems prints each file that failed or was skipped on stderr.
func problems(e *env, cmd string) func(string, error) {
	return func(path string, err error) {
		fmt.Fprintf(e.stderr, "ferry %s: %q: %v\n", cmd, path, err)
	}
}

func newEncryptCommand() *command {
	fs := pflag.NewFlagSet("encrypt", pflag.ContinueOnError)
	pf := addPassphraseFlags(fs)
	return &command{
		name:    "encrypt",
		summary: "encrypt a file or a folder into an encrypted folder, offline (to seed a server folder of an encrypted job)",
		usage:   "--passphrase-file FILE | --passphrase-env VAR [--names encrypted|plain] SRC DST",
		flags:   fs,
		run: func(ctx context.Context, e *env, args []string) error {
			a, err := pf.args(args, "encrypt", "give a SRC file or folder and a DST encrypted folder")
			if err != nil {
				return err
			}
			src, dst, fi := a.src, a.dst, a.info
			if dfi, err := os.Stat(dst); err == nil && !dfi.IsDir() {
				return usageError{fmt.Sprintf("%q is not a folder: DST is the root of an encrypted folder", dst)}
			}
			// Unlock (or create the header) first: a wrong passphrase
			// writes nothing.
			k, err := offline.Unlock(dst, a.pass, true)
			if err != nil {
				return err
			}
			o := offline.Options{Keys: k, PlainNames: a.plain, Problem: problems(e, "encrypt")}
			if !fi.IsDir() {
				_, err := offline.EncryptFile(src, dst, o)
				return err
			}
			return offline.EncryptTree(ctx, src, dst, o)
		},
	}
}

func newDecryptCommand() *command {
	fs := pflag.NewFlagSet("decrypt", pflag.ContinueOnError)
	pf := addPassphraseFlags(fs)
	header := fs.String("header", "", "the key header `FILE` ("+crypt.HeaderName+"); default: the one in SRC, or for a file the nearest one in the folders above it")
	return &command{
		name:    "decrypt",
		summary: "decrypt a file or a whole encrypted folder copied off a server, offline",
		usage:   "--passphrase-file FILE | --passphrase-env VAR [--header FILE] [--names encrypted|plain] SRC DST",
		flags:   fs,
		run: func(ctx context.Context, e *env, args []string) error {
			a, err := pf.args(args, "decrypt", "give a SRC encrypted file or folder and a DST")
			if err != nil {
				return err
			}
			src, dst, fi := a.src, a.dst, a.info
			// root is the encrypted folder's root: paths below it are the
			// names (and the content's binding) to decrypt.
			root := src
			switch {
			case fi.IsDir():
			case *header != "":
				root = filepath.Dir(*header)
			default:
				if root, err = offline.FindRoot(filepath.Dir(src)); err != nil {
					return err
				}
			}
			if root, err = filepath.Abs(root); err != nil {
				return err
			}
			hfile := *header
			if hfile == "" {
				hfile = filepath.Join(root, crypt.HeaderName)
			}
			k, err := offline.UnlockFile(hfile, a.pass)
			if err != nil {
				return err
			}
			o := offline.Options{Keys: k, PlainNames: a.plain, Problem: problems(e, "decrypt")}
			if !fi.IsDir() {
				_, err := offline.DecryptFile(src, root, dst, o)
				return err
			}
			return offline.DecryptTree(ctx, src, dst, o)
		},
	}
}
