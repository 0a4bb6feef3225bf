package syncer

import "testing"

// TestSmallCopiesBoundedByBuffers: files near smallFile hold as big a
// buffer each, and fewer of them are copied at once.
func TestSmallCopiesBoundedByBuffers(t *testing.T) {
	for _, c := range []struct {
		size int64
		want int64
	}{{1, 4096}, {4096, 1024 * 4 << 10 / 1024}, {smallFile, smallFile}} {
		if got := smallWeight(c.size); got != c.want {
			t.Errorf("smallWeight(%d) = %d, want %d", c.size, got, c.want)
		}
	}
	if n := smallBuffers / smallWeight(smallFile); n != 256 {
		t.Errorf("%d files of %d bytes fit in smallBuffers, want 256", n, smallFile)
	}
	if n := smallBuffers / smallWeight(4<<10); n < smallCopiers {
		t.Errorf("only %d files of 4 KiB fit in smallBuffers, want smallCopiers (%d)", n, smallCopiers)
	}
}
