package renameat

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestNoReplace(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(a, "x"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(b, "taken"), []byte("keep"), 0o644)
	da, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer da.Close()
	db, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = NoReplace(da, "x", db, "taken")
	if errors.Is(err, ErrUnsupported) {
		t.Skip("no rename that refuses an existing destination on this system")
	}
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("over an existing file: %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(filepath.Join(b, "taken")); string(got) != "keep" {
		t.Errorf("destination now holds %q", got)
	}
	if err := NoReplace(da, "x", db, "y"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(b, "y")); string(got) != "x" {
		t.Errorf("renamed file holds %q", got)
	}
	if _, err := os.Lstat(filepath.Join(a, "x")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("source still there: %v", err)
	}
}
