// Package gentree generates the standard benchmark workloads of
// ../shared/BENCH.md (tree, small) and large flat trees for scan benchmarks,
// from a seed, with random bytes so compression cannot help.
package gentree
