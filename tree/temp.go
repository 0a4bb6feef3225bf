package tree

import "strings"

// CheckpointSuffix is appended to a partial file's name for its resume
// checkpoint (ranges received, per-chunk hashes).
const CheckpointSuffix = ".ferry-ckpt"

// DefaultPartialSuffix is used when a job sets none.
const DefaultPartialSuffix = ".partial"

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
