package procio

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadCallsCountsReads(t *testing.T) {
	before, err := ReadCalls()
	if err != nil {
		t.Skip(err)
	}
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	after, err := ReadCalls()
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 10 {
		t.Fatalf("10 files read, the counter grew by %d", after-before)
	}
}
