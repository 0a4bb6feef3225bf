// Package config loads and validates a ferry jobs file (and the server
// file of `ferry serve`). Decoding is strict: an unknown key, a bad value, a
// duplicate job name or a relative path is an *Error naming the file, the
// line and the field, and every such problem in a file is reported at once.
//
// Caveats:
//
//   - In YAML a bare ~ is null, so `local: ~` leaves local unset; only a
//     leading "~/" (or a path that is just "~" in quotes) is expanded to the
//     home directory.
//   - Rates are bits per second with decimal units: 20Mbps is 20,000,000
//     bit/s. A unit with an uppercase B (20MBps, 20MB/s, 500KBps) reads as
//     bytes and is refused, with the rate in bits in the message.
//   - Folders are compared as cleaned paths, without touching the disk:
//     two jobs on overlapping folders, or a state_dir inside a job's
//     folder, are refused, but a symlink or a case-insensitive file system
//     can still hide an overlap.
//   - identity and known_hosts written for a job whose remote is a local
//     folder are refused; the same keys brought in through a merge key
//     are not.
//   - Merge keys (<<: *anchor) are honoured, so jobs can share settings;
//     the walk is bounded, and a file that expands past the bound through
//     aliases is rejected.
//   - Values built in code skip the decoder: call EnsureValid on them.
package config
