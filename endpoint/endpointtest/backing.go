package endpointtest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
	"github.com/ferry-sync/ferry/versions"
)

// Backing is the storage behind an endpoint as the suite sees it, beside
// the endpoint: it builds trees and checks what the endpoint did. Paths
// are slash-separated and relative to the root. A missing path gives an
// error wrapping fs.ErrNotExist.
type Backing interface {
	// WriteFile writes a file, making its parent directories; mtime 0
	// leaves the time of writing.
	WriteFile(p string, content []byte, mode fs.FileMode, mtime int64) error
	// Mkdir makes a directory and its parents; an existing one takes mode.
	Mkdir(p string, mode fs.FileMode) error
	// Symlink makes a link at p to target, making p's parents.
	Symlink(target, p string) error
	ReadFile(p string) ([]byte, error)
	// Lstat describes p without following a link (Hash 0). Ino is 0 when
	// the storage has none.
	Lstat(p string) (tree.Entry, error)
	Remove(p string) error
	// ReadDir lists the names in directory p ("" is the root).
	ReadDir(p string) ([]string, error)
	// Caps says what the storage can represent.
	Caps() Caps
}

// Caps are what a storage can do that the suite checks; a case that needs
// one the storage lacks is skipped with the reason.
type Caps struct {
	// Dir is the root's directory on this machine, "" if none (object
	// storage): chmod-unreadable entries, FIFOs, statfs and inodes need it.
	Dir string
	// PartialVisible: a partial file is an entry beside the final name.
	PartialVisible bool
	// FreeSpace: FreeSpace reports the storage's real size.
	FreeSpace bool
}

// BackingFactory returns a new endpoint over new, empty storage, and the
// Backing to check it through. The suite closes the endpoint.
type BackingFactory func(t *testing.T) (endpoint.Endpoint, Backing)

// OSBacking is the Backing of a directory on this machine.
func OSBacking(root string) Backing { return osBacking(root) }

type osBacking string

func (b osBacking) abs(p string) string { return filepath.Join(string(b), filepath.FromSlash(p)) }

func (b osBacking) WriteFile(p string, content []byte, mode fs.FileMode, mtime int64) error {
	if err := os.MkdirAll(filepath.Dir(b.abs(p)), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(b.abs(p), content, mode); err != nil {
		return err
	}
	if err := os.Chmod(b.abs(p), mode); err != nil {
		return err
	}
	if mtime != 0 {
		mt := time.Unix(0, mtime)
		return os.Chtimes(b.abs(p), mt, mt)
	}
	return nil
}

func (b osBacking) Mkdir(p string, mode fs.FileMode) error {
	if err := os.MkdirAll(b.abs(p), 0o755); err != nil {
		return err
	}
	return os.Chmod(b.abs(p), mode)
}

func (b osBacking) Symlink(target, p string) error {
	if err := os.MkdirAll(filepath.Dir(b.abs(p)), 0o755); err != nil {
		return err
	}
	return os.Symlink(target, b.abs(p))
}

func (b osBacking) ReadFile(p string) ([]byte, error) { return os.ReadFile(b.abs(p)) }

func (b osBacking) Lstat(p string) (tree.Entry, error) {
	fi, err := os.Lstat(b.abs(p))
	if err != nil {
		return tree.Entry{}, err
	}
	e := tree.Entry{Path: p, Mode: fi.Mode().Perm(), Mtime: fi.ModTime().UnixNano()}
	if ino, ok := diskInode(fi); ok {
		e.Ino = ino
	}
	switch fi.Mode().Type() {
	case 0:
		e.Kind, e.Size = tree.File, fi.Size()
	case fs.ModeDir:
		e.Kind = tree.Dir
	case fs.ModeSymlink:
		e.Kind = tree.Symlink
		e.Target, err = os.Readlink(b.abs(p))
	default:
		return e, errors.New("special file")
	}
	return e, err
}

func (b osBacking) Remove(p string) error { return os.Remove(b.abs(p)) }

func (b osBacking) ReadDir(p string) ([]string, error) {
	ents, err := os.ReadDir(b.abs(p))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, err
}

func (b osBacking) Caps() Caps {
	return Caps{Dir: string(b), PartialVisible: true, FreeSpace: true}
}

// BuildIn creates d in b.
func BuildIn(t testing.TB, b Backing, d Dir) {
	t.Helper()
	buildIn(t, b, "", d)
}

func buildIn(t testing.TB, b Backing, dir string, d Dir) {
	t.Helper()
	for name, v := range d {
		p := filepath.ToSlash(name)
		if dir != "" {
			p = dir + "/" + p
		}
		var err error
		switch v := v.(type) {
		case string:
			err = b.WriteFile(p, []byte(v), 0o644, 0)
		case File:
			mode := v.Mode
			if mode == 0 {
				mode = 0o644
			}
			err = b.WriteFile(p, []byte(v.Content), mode, v.Mtime)
		case Link:
			err = b.Symlink(string(v), p)
		case Dir:
			if err = b.Mkdir(p, 0o755); err == nil {
				buildIn(t, b, p, v)
			}
		default:
			t.Fatalf("Build: %s: unsupported node %T", name, v)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// readRoot lists a root's entries but its version store, which an
// endpoint may keep there (package versions).
func readRoot(b Backing) ([]string, error) {
	names, err := b.ReadDir("")
	return slices.DeleteFunc(names, versions.IsStoreName), err
}
