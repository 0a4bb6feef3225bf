package gentree

import (
	"crypto/sha256"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func digest(t *testing.T, dir string) [32]byte {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		h.Write([]byte(p[len(dir):]))
		h.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func TestGenerateIsDeterministicAndSized(t *testing.T) {
	spec := Spec{Big: 1, BigSize: 12345, Files: 40, Dirs: 4, MinSize: 10, MaxSize: 100}
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	nA, bytesA, err := Generate(a, spec, 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Generate(b, spec, 7); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Generate(c, spec, 8); err != nil {
		t.Fatal(err)
	}
	if nA != 41 {
		t.Fatalf("files = %d, want 41", nA)
	}
	if bytesA < 12345+40*10 || bytesA > 12345+40*100 {
		t.Fatalf("bytes = %d, outside the spec's range", bytesA)
	}
	if digest(t, a) != digest(t, b) {
		t.Fatal("same seed gave different trees")
	}
	if digest(t, a) == digest(t, c) {
		t.Fatal("different seeds gave the same tree")
	}
}

func TestWorkloadNames(t *testing.T) {
	for _, name := range []string{"tree", "small"} {
		if _, err := Workload(name); err != nil {
			t.Errorf("Workload(%q): %v", name, err)
		}
	}
	if _, err := Workload("huge"); err == nil {
		t.Error("Workload(huge) gave no error")
	}
}
