// Package foldfs is a test helper: a FUSE loopback that folds case and,
// optionally, Unicode normalisation the way macOS, Windows and FAT disks do,
// so ferry's tests can meet a case-insensitive folder on Linux, whose
// kernel here has neither casefold ext4 nor vfat.
//
// Names are preserved as created; a lookup, create, rename or remove with
// another spelling reaches the existing entry whose folded name is equal.
//
// Caveats: it is for tests only. It resolves names by listing the backing
// directory on every miss, and it is not safe against changes made to the
// backing directory behind its back while a name is being resolved.
package foldfs
