//go:build linux

package foldfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"golang.org/x/sys/unix"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func TestFoldsCase(t *testing.T) {
	m := MountT(t, Options{FoldCase: true})
	if err := os.WriteFile(filepath.Join(m.Dir, "readme.txt"), []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(m.Dir, "README.TXT"))
	if err != nil || string(got) != "one" {
		t.Fatalf("other spelling: %q, %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(m.Dir, "Readme.txt"), []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n := names(t, m.Dir); len(n) != 1 || n[0] != "readme.txt" {
		t.Fatalf("names %q, want the first spelling only", n)
	}
	err = unix.Renameat2(unix.AT_FDCWD, filepath.Join(m.Dir, "readme.txt"), unix.AT_FDCWD, filepath.Join(m.Dir, "x"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(m.Dir, "readme.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err = unix.Renameat2(unix.AT_FDCWD, filepath.Join(m.Dir, "x"), unix.AT_FDCWD, filepath.Join(m.Dir, "README.txt"), unix.RENAME_NOREPLACE)
	if !errors.Is(err, unix.EEXIST) {
		t.Fatalf("no-replace rename onto another spelling: %v, want EEXIST", err)
	}
	if err := os.Mkdir(filepath.Join(m.Dir, "Dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(m.Dir, "dir"), 0o755); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("mkdir of another spelling: %v, want exists", err)
	}
	if err := os.WriteFile(filepath.Join(m.Dir, "DIR", "a"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(m.Backing, "Dir", "a")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(m.Dir, "dir", "A"), "user.t", []byte{1}, 0); err != nil {
		t.Fatal(err)
	}
}

func TestNormalizes(t *testing.T) {
	m := MountT(t, Options{FoldCase: true, Normalize: true})
	nfc, nfd := "caf\u00e9.txt", "cafe\u0301.txt"
	if err := os.WriteFile(filepath.Join(m.Dir, nfd), []byte("d"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(m.Dir, nfc)); err != nil {
		t.Fatalf("NFC spelling of an NFD name: %v", err)
	}
	if n := names(t, m.Dir); len(n) != 1 || n[0] != nfd {
		t.Fatalf("names %q, want the NFD spelling kept", n)
	}
}
