// Package conflict names conflict copies (log.txt -> log.conflict-mine.txt)
// and describes unresolved conflicts.
package conflict
