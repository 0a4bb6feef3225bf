// Package cputime reads the CPU time this process has used, for
// benchmarks that report CPU cost per packet or per file beside wall time.
package cputime
