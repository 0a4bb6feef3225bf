// Package conflict names conflict copies (log.txt -> log.conflict-mine.txt)
// and describes unresolved conflicts.
//
// Caveats: FreeName only probes; between its answer and the rename another
// process may take the name, so callers should rename without replacing
// (and retry FreeName on ErrExists).
package conflict
