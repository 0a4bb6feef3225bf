package syncer_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/tree"
)

// scanWatcher records the ScanOptions its endpoint's scans were given.
type scanWatcher struct {
	endpoint.Endpoint
	mu    sync.Mutex
	later []bool
}

func (w *scanWatcher) Scan(ctx context.Context, o endpoint.ScanOptions, visit func(tree.Entry) error) error {
	w.mu.Lock()
	w.later = append(w.later, o.HashLater)
	w.mu.Unlock()
	return w.Endpoint.Scan(ctx, o, visit)
}

// TestFirstSyncPushedToServeHashesAsItSends: a first sync pushed to a
// ferry:// remote through a real ferry serve, over UDP and over the SSH
// stream, with Options.HashWhileCopying (as cmd/ferry sets it for a
// local-to-remote job): the local scan leaves the files unhashed, the
// upload hashes each as it sends it and the server verifies that hash,
// and the snapshot records it, so the next pass moves nothing.
func TestFirstSyncPushedToServeHashesAsItSends(t *testing.T) {
	for _, mode := range []config.TransportMode{config.UDP, config.TCP} {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t)
			e.job.Direction = config.LocalToRemote
			e.served = serve(t, e.remoteDir, mode)
			const files = 120
			for i := range files {
				e.write("local", fmt.Sprintf("d%d/f%03d", i%5, i), strings.Repeat(strconv.Itoa(i), 1+i*37%3000))
			}
			w := &scanWatcher{}
			e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
				w.Endpoint = l
				return w, r
			}
			o := e.options()
			o.HashWhileCopying = true
			first, err := syncer.Pass(context.Background(), o)
			if err != nil || first.Skipped != 0 {
				t.Fatalf("first pass: %v, skipped %d", err, first.Skipped)
			}
			if first.Created != files+5 {
				t.Errorf("created %d, want %d files and 5 directories", first.Created, files)
			}
			if len(w.later) != 1 || !w.later[0] {
				t.Errorf("the local scans were asked HashLater %v, want one unhashed scan", w.later)
			}
			if n := e.checkAncestorHashes(); n != files {
				t.Errorf("the ancestor records %d files, want %d", n, files)
			}
			e.wrap = nil
			rec := e.mustPass()
			if rec.Created+rec.Updated+rec.Deleted+rec.Conflicts+rec.Skipped != 0 || rec.Bytes != 0 {
				t.Errorf("the pass after the first sync did something: %+v", rec)
			}
		})
	}
}

// TestBatchThatDoesNotHashRecordsNothingUnhashed: a Batch whose Upload
// does not give back the hash of a file scanned unhashed (batchReceiver)
// leaves that file failed, not recorded with no hash: the next pass
// compares both sides and settles it.
func TestBatchThatDoesNotHashRecordsNothingUnhashed(t *testing.T) {
	e := newEnv(t)
	e.job.Direction = config.LocalToRemote
	e.write("local", "a.txt", "a")
	e.write("local", "d/b.txt", "bb")
	recv := &batchReceiver{noHash: true}
	e.wrap = func(l, r endpoint.Endpoint) (endpoint.Endpoint, endpoint.Endpoint) {
		recv.Endpoint = r
		return l, recv
	}
	o := e.options()
	o.HashWhileCopying = true
	if _, err := syncer.Pass(context.Background(), o); err == nil || recv.items != 2 {
		t.Errorf("pass: %v, %d items uploaded; want 2 uploaded and the pass to report them failed", err, recv.items)
	}
	anc, err := e.db.Ancestor()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range anc {
		if a.Kind == tree.File {
			t.Errorf("the ancestor records %s (hash %016x) though the batch gave no hash", a.Path, a.Hash)
		}
	}
	e.wrap = nil
	e.mustPass()
	if n := e.checkAncestorHashes(); n != 2 {
		t.Errorf("the ancestor records %d files after the next pass, want 2", n)
	}
}
