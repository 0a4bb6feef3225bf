package cryptfs

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/crypt"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/endpoint/endpointtest"
	"github.com/ferry-sync/ferry/localfs"
	"github.com/ferry-sync/ferry/tree"
)

// TestConformance runs the endpoint conformance suite over an encrypted
// endpoint on a local folder, with encrypted names and with names: plain.
// The suite sees plaintext: its fixtures are encrypted offline with the
// folder's keys, and what the endpoint wrote is decrypted to be checked.
func TestConformance(t *testing.T) {
	for _, plain := range []bool{false, true} {
		name := "EncryptedNames"
		if plain {
			name = "PlainNames"
		}
		t.Run(name, func(t *testing.T) {
			endpointtest.RunBacking(t, func(t *testing.T) (endpoint.Endpoint, endpointtest.Backing) {
				root := t.TempDir()
				h, k, err := crypt.NewHeaderWithKDF([]byte("pw"), rand.Reader, cheapKDF)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(root, crypt.HeaderName), h.Marshal(), 0o600); err != nil {
					t.Fatal(err)
				}
				inner, err := localfs.New(root, localfs.Options{})
				if err != nil {
					t.Fatal(err)
				}
				f, err := New(inner, Options{Passphrase: []byte("pw"), PlainNames: plain, TempDir: t.TempDir(),
					StateFile: filepath.Join(t.TempDir(), "crypt.db")})
				if err != nil {
					t.Fatal(err)
				}
				return f, &cipherBacking{root: root, k: k, plainNames: plain}
			})
		})
	}
}

// cipherBacking is an encrypted folder as the conformance suite sees it:
// plaintext paths and contents, stored encrypted under root with k.
type cipherBacking struct {
	root       string
	k          *crypt.Keys
	plainNames bool
}

var _ endpointtest.Backing = (*cipherBacking)(nil)

// abs is the file on disk that holds plaintext path p.
func (b *cipherBacking) abs(p string) (string, error) {
	c := p
	if !b.plainNames {
		var err error
		if c, err = b.k.EncryptPath(p); err != nil {
			return "", err
		}
	}
	return filepath.Join(b.root, filepath.FromSlash(c)), nil
}

func (b *cipherBacking) WriteFile(p string, content []byte, mode fs.FileMode, mtime int64) error {
	a, err := b.abs(p)
	if err != nil {
		return err
	}
	if err := b.mkdirAll(path.Dir(p)); err != nil {
		return err
	}
	enc, err := b.k.NewEncoder(crypt.Source{Path: p, R: bytes.NewReader(content), Size: int64(len(content))})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := enc.WriteTo(&buf); err != nil {
		return err
	}
	if err := os.WriteFile(a, buf.Bytes(), mode); err != nil {
		return err
	}
	if err := os.Chmod(a, mode); err != nil {
		return err
	}
	if mtime != 0 {
		mt := time.Unix(0, mtime)
		return os.Chtimes(a, mt, mt)
	}
	return nil
}

// mkdirAll makes plaintext directory p and its parents.
func (b *cipherBacking) mkdirAll(p string) error {
	if p == "." || p == "" {
		return nil
	}
	a, err := b.abs(p)
	if err != nil {
		return err
	}
	return os.MkdirAll(a, 0o755)
}

func (b *cipherBacking) Mkdir(p string, mode fs.FileMode) error {
	if err := b.mkdirAll(p); err != nil {
		return err
	}
	a, err := b.abs(p)
	if err != nil {
		return err
	}
	return os.Chmod(a, mode)
}

func (b *cipherBacking) Symlink(target, p string) error {
	a, err := b.abs(p)
	if err != nil {
		return err
	}
	if err := b.mkdirAll(path.Dir(p)); err != nil {
		return err
	}
	ct, err := b.k.EncryptLinkTarget(p, target)
	if err != nil {
		return err
	}
	return os.Symlink(ct, a)
}

func (b *cipherBacking) ReadFile(p string) ([]byte, error) {
	a, err := b.abs(p)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(a)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := b.k.Decrypt(&buf, f, p); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (b *cipherBacking) Lstat(p string) (tree.Entry, error) {
	a, err := b.abs(p)
	if err != nil {
		return tree.Entry{}, err
	}
	fi, err := os.Lstat(a)
	if err != nil {
		return tree.Entry{}, err
	}
	e := tree.Entry{Path: p, Mode: fi.Mode().Perm(), Mtime: fi.ModTime().UnixNano()}
	switch fi.Mode().Type() {
	case 0:
		f, err := os.Open(a)
		if err != nil {
			return e, err
		}
		defer f.Close()
		m, err := b.k.ReadHeader(f, fi.Size(), p)
		e.Kind, e.Size = tree.File, m.Size
		return e, err
	case fs.ModeDir:
		e.Kind = tree.Dir
	case fs.ModeSymlink:
		ct, err := os.Readlink(a)
		if err != nil {
			return e, err
		}
		e.Kind = tree.Symlink
		e.Target, err = b.k.DecryptLinkTarget(p, ct)
		return e, err
	default:
		return e, errors.New("special file")
	}
	return e, nil
}

func (b *cipherBacking) Remove(p string) error {
	a, err := b.abs(p)
	if err != nil {
		return err
	}
	return os.Remove(a)
}

// ReadDir lists plaintext names, without the key header; a name that
// does not decrypt (something left by the endpoint) is listed as it is.
func (b *cipherBacking) ReadDir(p string) ([]string, error) {
	a, err := b.abs(p)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(a)
	var names []string
	for _, e := range ents {
		name := e.Name()
		if p == "" && name == crypt.HeaderName {
			continue
		}
		if !b.plainNames {
			cdir, _ := filepath.Rel(b.root, a)
			c := filepath.ToSlash(filepath.Join(cdir, name))
			if plain, err := b.k.DecryptPath(c); err == nil {
				name = tree.Base(plain)
			}
		}
		names = append(names, name)
	}
	return names, err
}

// Caps: the endpoint spools uploads on this machine, so no partial file
// is visible beside the final name (PartialVisible false); it is
// path-bound (its own Caps), so it renames no directory. With encrypted names the
// folder's paths are not the plaintext ones, so the cases that reach a
// path on disk directly (chmod, FIFOs, statfs) cannot run; with plain
// names they can.
func (b *cipherBacking) Caps() endpointtest.Caps {
	if b.plainNames {
		return endpointtest.Caps{Dir: b.root, FreeSpace: true}
	}
	return endpointtest.Caps{}
}
