package syncer

import (
	"testing"
	"unsafe"

	"github.com/ferry-sync/ferry/tree"
)

// A plan holds an op per path it changes, a first sync one per path of
// the tree: an Op carried a third tree.Entry (From, for the few local
// copies) and padding, 352 bytes where 232 do.
func TestOpIsCompact(t *testing.T) {
	if n := unsafe.Sizeof(tree.Entry{}); n > 88 {
		t.Errorf("tree.Entry is %d bytes, more than 88", n)
	}
	if n := unsafe.Sizeof(Op{}); n > 232 {
		t.Errorf("Op is %d bytes, more than 232", n)
	}
}
