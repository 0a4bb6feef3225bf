package foldfs

import (
	"os"
	"testing"
)

// MountT mounts a fresh folding loopback for t and unmounts it when t
// ends. It skips t, saying why, only where /dev/fuse is missing, and fails
// it there too when FERRY_REQUIRE_FUSE is set (as CI does, so the tests
// never skip silently); any other failure to mount fails t.
func MountT(t testing.TB, opts Options) *Mount {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if os.Getenv("FERRY_REQUIRE_FUSE") != "" {
			t.Fatalf("foldfs: /dev/fuse is missing (%v) and FERRY_REQUIRE_FUSE is set", err)
		}
		t.Skipf("foldfs: /dev/fuse is missing (%v); the case-folding filesystem tests need FUSE", err)
	}
	backing, dir := t.TempDir(), t.TempDir()
	m, err := New(backing, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	return m
}
