// Package chunk cuts files into content-defined chunks, names each by its
// SHA-256, encodes chunk lists, and plans and builds a new version of a file
// from an old one plus the chunks it lacks. It is the foundation of block
// delta (issue 12); it does no I/O of its own beyond the readers and writers
// it is given, and knows nothing of endpoints or the transport.
//
// # Using it
//
// The scan feeds a file through a Chunker that tees every byte into the
// whole-file xxhash it already computes, so one read gives both:
//
//	h := xxhash.New()
//	c, ok := chunk.New(size, h) // ok is false under MinFileSize: hash as before
//	io.CopyBuffer(c, file, buf)
//	sum, list, err := h.Sum64(), c.List() // err wraps ErrSizeChanged if the file grew or shrank
//
// The receiver, holding its current file's list (base) and the sender's
// (next), calls Plan(base, next) for Copy and Literal ops, asks for the
// literal ranges, and calls Build (or CopyBase, then writes the literals
// itself) into the partial file. CopyBase re-hashes every base chunk it
// copies and hands back, as literals, the chunks whose bytes no longer match,
// so a base edited since its list was made costs bytes, not correctness.
//
// # Why FastCDC, not an rsync rolling checksum
//
// rsync finds matches at any byte offset, but only at sync time and only
// between one pair of files: the receiver reads its file to send block sums,
// then the sender reads the new file and, for every byte, rolls a weak
// checksum and looks it up (BenchmarkRsyncRolling). Content-defined chunking
// cuts each file where its content says, independently on each side, so the
// chunk list is computed during the scan's one read, kept in the snapshot
// database, and compared at sync time without reading either file. Lists of
// different files compare just as well, which is what finds copies, and
// renames with edits. An insert or delete moves the rest of the file but
// not its cut points, so only the chunks around the edit change.
//
// The price is granularity: an edit costs the chunks around it (about two
// average chunks for a 1 KiB insert, see below) where rsync sends about the
// edited bytes plus a block. For a 200 MiB file that is ~140 KiB, within the
// issue's 1 % target; the list itself is about 2,800 chunks × 35 bytes,
// ~100 KiB, the order of what rsync's block sums for the same file cost.
//
// The cut search is FastCDC (Xia et al., USENIX ATC 2016; IEEE TPDS 2020): a
// gear fingerprint fp = fp<<1 + gear[byte], skipping the first Min bytes of a
// chunk, and normalized chunking: a cut needs Avg-bits+1 zero top bits of fp
// before the average size and Avg-bits-1 after it. The top bits are used
// because they depend on the whole 64-byte window. The gear table is
// SplitMix64 from a fixed seed, generated into gear_table.go by gen_gear.go
// (go generate) and checked by a test.
//
// Normalization level 1 was chosen by measurement (TestInsertionShiftsFewBoundaries
// setup, 4 KiB average, 1 MiB files, a 1 KiB insert, 200 seeds):
//
//	level  literal mean  worst     new chunks  size sd   cuts forced at Max
//	0      2.31 avg      7.6 avg   1.35        0.90 avg  2.2 %
//	1      2.15 avg      5.3 avg   1.50        0.60 avg  0.15 %
//	2      2.61 avg      12.6 avg  2.21        0.34 avg  0
//
// Level 2 (the paper's choice for Max = 8 × Avg) makes sizes tighter, but
// with a cut rule that depends on the distance from the chunk start, a
// shifted start takes longer to fall back into step after an edit.
//
// # Sizes
//
// ParamsFor gives files under MinFileSize (1 MiB) no list: a list and a plan
// cost a round trip that a 1 MiB transfer barely does. Above it, Avg is
// 64 KiB up to 256 MiB (at most ~4,096 chunks, TargetChunks), then doubles
// with the file up to 16 MiB at 64 GiB, beyond which the count grows (a
// 1 TiB file has ~65,000 chunks, a 2 MiB list). Min = Avg/4 skips a quarter
// of the fingerprinting and bounds the count at four times the expected one;
// Max = Avg × 4 is reached by 0.15 % of chunks of random data and by every
// chunk of a run of constant bytes, which is what it is for. The mean chunk
// is about 1.1 to 1.2 × Avg.
//
// # Hash
//
// A chunk is named by its whole SHA-256 (crypto/sha256, which uses the SHA
// instructions where the CPU has them). A peer may be hostile and chunks may
// one day be shared across files, where a truncated 128-bit name gives only
// 64-bit collision resistance; the 16 bytes saved per chunk are under 2 % of
// a list. BenchmarkScanOnePass gives the share of scan time it costs.
//
// # Measured
//
// Benchmarks in CPU seconds of the benchmark's thread (cpu-MB/s: the machine
// they ran on was shared and loaded, so wall-clock MB/s measured the other
// processes), 32 MiB of random data fed in 32 KiB writes, one core of an
// AMD EPYC (Turin) VM with SHA-NI:
//
//	BenchmarkXXHash             xxhash alone (today's scan)     ~24,000 MB/s
//	BenchmarkGear               FastCDC cut search alone         ~2,900 MB/s
//	BenchmarkSHA256             SHA-256 alone                    ~1,700 MB/s
//	BenchmarkChunker            cut search and SHA-256 per chunk   ~940 MB/s
//	BenchmarkRsyncRolling       rsync's roll and tag lookup        ~125 MB/s
//	                            (the roll alone, no lookups         ~580 MB/s)
//	BenchmarkScanOnePass        a page-cached file, xxhash alone  ~5,700 MB/s
//	                            xxhash, FastCDC, SHA-256 at once    ~750 MB/s
//
// So a chunk list makes the read of a file of 1 MiB or more cost about seven
// times the CPU (86 % of that scan's CPU time, SHA-256 about two thirds of
// it), still faster than most disks deliver and paid only when a file's
// size or mtime changed: unchanged files are not re-read, and files under
// MinFileSize are hashed as before. Rolling rsync's checksum is four to
// twenty times slower per byte than the gear search, and it runs at every
// sync of a changed file, not once at scan time.
//
// # Encoding
//
//	version  1 byte, Version (names this format, the gear table and ParamsFor)
//	total    uvarint, the file size
//	count    uvarint
//	count ×  uvarint chunk length, 32-byte SHA-256
//
// Offsets are implied by the lengths, so no list can have overlapping or
// out-of-order chunks. ParseList derives the chunk bounds from the total and
// rejects a count that cannot make the total or does not fit the input
// (before allocating), a length outside [Min, Max] (the last chunk
// [1, Max]), lengths that do not add up to the total, non-shortest uvarints
// (so each list has one encoding), and every truncated prefix.
//
// # Caveats
//
//   - Chunking depends on ParamsFor(size): when a file crosses a size where
//     Avg doubles (256 MiB, 512 MiB, ...), its old and new lists share no
//     boundaries and a plan copies nothing. A receiver can re-chunk its base
//     with the new file's Params (NewWithParams) at the cost of one read.
//   - Appending to a file resends its last chunk (up to Max bytes), since
//     that chunk's content changed.
//   - Build and CopyBase write copied bytes before they know whether they
//     verify; ranges that fail are rewritten from the new file. dst must not
//     be the base file, and the caller still checks the whole-file hash.
//   - A Chunker is for one goroutine; Reset reuses it for the next file.
package chunk
