package endpointtest

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Dir describes a directory to build on disk: values are File, Link, Dir or
// a plain string (a file with that content and mode 0644).
type Dir map[string]any

// File is a regular file to build. Zero Mode means 0644, zero Mtime leaves
// the time of creation.
type File struct {
	Content string
	Mode    fs.FileMode
	Mtime   int64
}

// Link is a symlink to build, holding its target.
type Link string

// Build creates d below root.
func Build(t testing.TB, root string, d Dir) {
	t.Helper()
	for name, v := range d {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch v := v.(type) {
		case string:
			writeFile(t, p, File{Content: v})
		case File:
			writeFile(t, p, v)
		case Link:
			if err := os.Symlink(string(v), p); err != nil {
				t.Fatal(err)
			}
		case Dir:
			if err := os.Mkdir(p, 0o755); err != nil && !os.IsExist(err) {
				t.Fatal(err)
			}
			Build(t, p, v)
		default:
			t.Fatalf("Build: %s: unsupported node %T", name, v)
		}
	}
}

func writeFile(t testing.TB, p string, f File) {
	t.Helper()
	mode := f.Mode
	if mode == 0 {
		mode = 0o644
	}
	if err := os.WriteFile(p, []byte(f.Content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	if f.Mtime != 0 {
		mt := time.Unix(0, f.Mtime)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
}
