// Package logging sets up ferry's files under STATE_DIR/logs: a structured
// JSON log (ferry.log) and a transfer log (transfers.log) with one line per
// file moved, both rotated by size.
//
// Caveats: rotation renames files while the writer holds the only handle;
// an external logrotate on the same files would fight it, so do not add one.
package logging
