//go:build !linux && !darwin

package renameat

import "os"

// NoReplace returns ErrUnsupported: this system has no rename by
// descriptor that refuses an existing destination.
func NoReplace(from *os.File, fromName string, to *os.File, toName string) error {
	return ErrUnsupported
}
