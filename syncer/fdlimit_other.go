//go:build !unix

package syncer

// openFileLimit: no limit on open files to respect here.
func openFileLimit() (uint64, bool) { return 0, false }
