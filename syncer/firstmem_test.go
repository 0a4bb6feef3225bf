package syncer_test

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/ferry-sync/ferry/syncer"
)

// A first sync plans an op for every path, and the applier used to copy
// the plan's transfers three times over (and keep maps beside them): 100k
// small files held 889 bytes of heap a file once the transfers started,
// 3.6 KB of RSS a file at the peak. What the pass holds when the transfers
// start is now the plan's one op a file, and a little per transfer.
func TestFirstSyncHoldsLittlePerFile(t *testing.T) {
	const files, limit = 8000, 600
	src := smallTree(t, files)
	e := newEnv(t)
	e.localDir, e.job.Local = src, src
	o := e.options()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var once sync.Once
	var atApply uint64
	o.Observer = func(ev syncer.Event) {
		if ev.Phase == syncer.PhaseTransferring {
			once.Do(func() {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				atApply = ms.HeapInuse
			})
		}
	}
	rec, err := syncer.Pass(context.Background(), o)
	if err != nil || rec.Created != files+files/200 {
		t.Fatalf("pass: %s, %v", summary(rec), err)
	}
	perFile := (int64(atApply) - int64(base)) / files
	t.Logf("heap held when the transfers start: %d bytes a file", perFile)
	if perFile > limit {
		t.Errorf("a first sync of %d small files held %d bytes of heap a file when its transfers started, more than %d", files, perFile, limit)
	}
}
