package chunk

import (
	"fmt"
	"math/bits"
)

// Size policy. See doc.go for why these numbers.
const (
	// MinFileSize is the smallest file that gets a chunk list: below it a
	// whole transfer costs little more than exchanging lists would.
	MinFileSize = 1 << 20
	// TargetChunks is the most chunks of average size a file should have
	// before the average grows: it bounds a list to about 4096 × 33 bytes
	// on the wire and in the snapshot database.
	TargetChunks = 4096
	// minAvgBits and maxAvgBits bound the average chunk size ParamsFor picks:
	// 64 KiB for files up to 256 MiB, doubling up to 16 MiB for files of
	// 64 GiB, after which the count grows with the file.
	minAvgBits = 16
	maxAvgBits = 24
	// lowestAvgBits and highestAvgBits bound any valid Params (tests use
	// small ones): the minimum chunk must cover the gear window.
	lowestAvgBits  = 8
	highestAvgBits = maxAvgBits
)

// Params are the chunk size bounds of one chunking: Min = Avg/4 and
// Max = Avg*4, Avg a power of two. Chunks are at least Min+1 and at most
// Max bytes long, except the last chunk of a file, which may be shorter.
type Params struct {
	Min, Avg, Max int
}

// ParamsFor returns the chunking for a file of size bytes, and false when the
// file is too small to get a chunk list at all.
func ParamsFor(size int64) (Params, bool) {
	if size < MinFileSize {
		return Params{}, false
	}
	b := minAvgBits
	for b < maxAvgBits && (size+1<<b-1)>>b > TargetChunks {
		b++
	}
	return paramsOf(b), true
}

func paramsOf(avgBits int) Params {
	return Params{Min: 1 << avgBits >> 2, Avg: 1 << avgBits, Max: 1 << avgBits << 2}
}

// avgBits is log2(Avg).
func (p Params) avgBits() int {
	return bits.Len(uint(p.Avg)) - 1
}

// EnsureValid checks that p is one of the chunkings this package produces.
func (p Params) EnsureValid() error {
	b := p.avgBits()
	if p.Avg <= 0 || b < lowestAvgBits || b > highestAvgBits || p != paramsOf(b) {
		return fmt.Errorf("invalid chunk sizes min %d, avg %d, max %d: want avg a power of two from %d to %d, min avg/4, max avg*4",
			p.Min, p.Avg, p.Max, 1<<lowestAvgBits, 1<<highestAvgBits)
	}
	return nil
}
