// Package tree defines how ferry describes one path on one side of a job:
// its kind, size, mtime, mode and content hash, the canonical path order
// every listing is sorted in, and the rules a relative path must obey.
//
// Caveats: paths are always slash-separated and relative to a root; the root
// itself never appears as an entry.
package tree
