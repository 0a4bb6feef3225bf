package syncer_test

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/ferry-sync/ferry/syncer"
)

// firstSyncHeld runs a first sync of files small files into an empty
// folder with the given FirstSyncBatch and returns the most heap it held,
// after a GC, whenever a batch's transfers started (where a pass holds
// its plan), less the heap before the pass.
func firstSyncHeld(t *testing.T, files, batch int) int64 {
	t.Helper()
	src := smallTree(t, files)
	e := newEnv(t)
	e.localDir, e.job.Local = src, src
	e.firstBatch = batch
	o := e.options()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var top uint64
	o.Observer = func(ev syncer.Event) {
		if ev.Phase != syncer.PhaseTransferring || ev.Path != "" {
			return
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		top = max(top, ms.HeapInuse)
	}
	rec, err := syncer.Pass(context.Background(), o)
	if err != nil || rec.Created != files+files/200 {
		t.Fatalf("pass: %s, %v", summary(rec), err)
	}
	return int64(top) - int64(base)
}

// TestFirstSyncMemoryDoesNotGrowWithTheTree: issue 13 asks that memory
// grow with the work queued and the depth of the tree, not its size. A
// first sync planned its whole tree before it applied any of it: 16,000
// files held 6 MB of heap at the transfers, 4,000 files 1.4 MB, some 390
// bytes for each file more. Planned and applied in batches of 1,000
// paths, both hold one batch (1.7 and 2.5 MB here, the difference noise
// of the heap's spans). FERRY_FIRST_BATCH=-1 shows the whole plan.
func TestFirstSyncMemoryDoesNotGrowWithTheTree(t *testing.T) {
	if testing.Short() {
		t.Skip("makes 20,000 files")
	}
	batch := 1000
	if s := os.Getenv("FERRY_FIRST_BATCH"); s != "" {
		batch, _ = strconv.Atoi(s)
	}
	const few, many = 4000, 16000
	small := firstSyncHeld(t, few, batch)
	large := firstSyncHeld(t, many, batch)
	growth := (large - small) / (many - few)
	t.Logf("heap held at a batch's transfers: %d files %d KB, %d files %d KB: %d bytes for each file more", few, small/1024, many, large/1024, growth)
	const limit = 150
	if growth > limit {
		t.Errorf("a first sync held %d bytes of heap more for each file more in the tree (%d files %d KB, %d files %d KB), more than %d: it grows with the tree",
			growth, few, small/1024, many, large/1024, limit)
	}
	if large > 4<<20 {
		t.Errorf("a first sync of %d files held %d KB of heap at its transfers, more than a batch's %d KB", many, large/1024, 4<<10)
	}
}
