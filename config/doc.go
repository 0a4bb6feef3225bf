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
//     bit/s, not megabytes.
//   - Merge keys (<<: *anchor) are honoured, so jobs can share settings;
//     the walk is bounded, and a file that expands past the bound through
//     aliases is rejected.
//   - Values built in code skip the decoder: call EnsureValid on them.
package config
