//go:build race

package server

// raceEnabled: under the race detector sync.Pool drops a share of what
// it is given back on purpose, so pooled buffers are allocated again.
const raceEnabled = true
