//go:build !linux

package foldfs

import (
	"errors"
	"fmt"
	"runtime"
)

// Mount is a mounted folding loopback; outside Linux there never is one.
type Mount struct {
	// Dir is the mount point, Backing the directory it shows.
	Dir, Backing string
}

// New fails outside Linux: the loopback is built on Linux FUSE.
func New(backing, dir string, opts Options) (*Mount, error) {
	return nil, fmt.Errorf("unable to mount foldfs on %s: it runs on Linux FUSE only, not on %s: %w", dir, runtime.GOOS, errors.ErrUnsupported)
}

// Close does nothing: New never mounts here.
func (m *Mount) Close() error { return nil }
