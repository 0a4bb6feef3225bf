package tree

import "strings"

// CheckpointSuffix is appended to a partial file's name for its resume
// checkpoint (ranges received, per-chunk hashes).
const CheckpointSuffix = ".ferry-ckpt"

// DefaultPartialSuffix is used when a job sets none.
const DefaultPartialSuffix = ".partial"

// KeyHeaderName is the name of an encrypted folder's key header file, at
// its root (package crypt writes and reads it). It is not a temporary
// file: IsTemp does not match it. A scan of an encrypted root lists it,
// and whoever reads the listing decides: the encrypted endpoint skips it,
// the engine halts a job that does not encrypt when its remote holds one.
const KeyHeaderName = ".ferry-crypt"

// IsTemp reports whether a base name is one of ferry's own in-flight files,
// which scans skip: NAME+partialSuffix, its checkpoint, and .ferry-tmp.*.
func IsTemp(name, partialSuffix string) bool {
	if partialSuffix == "" {
		partialSuffix = DefaultPartialSuffix
	}
	return strings.HasSuffix(name, partialSuffix) ||
		strings.HasSuffix(name, partialSuffix+CheckpointSuffix) ||
		strings.HasPrefix(name, ".ferry-tmp.")
}
