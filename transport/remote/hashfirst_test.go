package remote_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/remote"
	"github.com/ferry-sync/ferry/tree"
)

// A first sync's scan may list files unhashed (ScanOptions.HashLater):
// Upload then hashes each just before it sends it, over UDP as over the
// SSH stream, the server verifies that hash before the rename, and Upload
// writes it into the item for the engine to record. A file that changed
// since the scan fails as ErrChanged, is not written, and gets no hash.
func TestUploadHashesFilesScannedUnhashed(t *testing.T) {
	for _, tc := range []struct {
		name      string
		udp       bool
		transport config.TransportMode
	}{
		{"udp", true, config.UDP},
		{"stream", false, config.TCP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rng(t)
			e := newEnvUDP(t, tc.udp, nil)
			ep := e.mustDial(func(o *remote.Options) { o.Transport = tc.transport })
			src := t.TempDir()
			contents := map[string][]byte{}
			for i, n := range []int{0, 1, 1400, 10 << 10, 300 << 10, 10 << 10} {
				p := "d/f" + string(rune('a'+i))
				contents[p] = randomBytes(r, n)
				fileEntry(t, src, p, contents[p])
			}
			fs := local(t, src)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var items []endpoint.Transfer
			if err := fs.Scan(ctx, endpoint.ScanOptions{HashLater: true}, func(en tree.Entry) error {
				if en.Kind == tree.File {
					if en.Hash != 0 {
						t.Errorf("%s: scanned with hash %x, want it unhashed", en.Path, en.Hash)
					}
					items = append(items, endpoint.Transfer{Source: en})
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if err := ep.Mkdir(ctx, "d", 0o755); err != nil {
				t.Fatal(err)
			}
			// One file changes after the scan (another size).
			changed := items[len(items)-1].Source.Path
			if err := os.WriteFile(filepath.Join(src, changed), []byte("changed after the scan"), 0o640); err != nil {
				t.Fatal(err)
			}
			errs := ep.Upload(ctx, items, fs, nil)
			for i, it := range items {
				p := it.Source.Path
				if p == changed {
					if !errors.Is(errs[i], endpoint.ErrChanged) {
						t.Errorf("%s changed after the scan: %v, want ErrChanged", p, errs[i])
					}
					if it.Source.Hash != 0 {
						t.Errorf("%s failed but was given hash %x", p, it.Source.Hash)
					}
					if _, err := os.Lstat(filepath.Join(e.root, p)); err == nil {
						t.Errorf("%s changed after the scan but was written", p)
					}
					continue
				}
				if errs[i] != nil {
					t.Errorf("%s: %v", p, errs[i])
					continue
				}
				if want := xxhash.Sum64(contents[p]); it.Source.Hash != want {
					t.Errorf("%s: Upload gave hash %x, want the content's %x", p, it.Source.Hash, want)
				}
				mustEqualFile(t, filepath.Join(e.root, p), contents[p], it.Source.Mtime)
			}
			if st, ok := ep.DataStats(); tc.udp && (!ok || st.PayloadBytes == 0) {
				t.Errorf("upload did not go over UDP: %+v %v", st, ok)
			}
		})
	}
}

// gatedSrc is a local folder whose file big cannot be read until gate
// closes.
type gatedSrc struct {
	endpoint.Endpoint
	big  string
	gate chan struct{}
	ctx  context.Context // the test's: a read waits no longer
	once sync.Once
}

func (g *gatedSrc) OpenFile(ctx context.Context, p string) (endpoint.FileReader, error) {
	r, err := g.Endpoint.OpenFile(ctx, p)
	switch {
	case err != nil:
		return r, err
	case p == g.big:
		return gatedReader{r.(endpoint.HashingReader), g}, nil
	default:
		return &openingReader{HashingReader: r.(endpoint.HashingReader), g: g}, nil
	}
}

// openingReader opens the gate once its file has been read to its end.
type openingReader struct {
	endpoint.HashingReader
	g *gatedSrc
}

func (r *openingReader) ReadAt(b []byte, off int64) (int, error) {
	n, err := r.HashingReader.ReadAt(b, off)
	if off+int64(n) == r.Size() {
		r.g.once.Do(func() { close(r.g.gate) })
	}
	return n, err
}

type gatedReader struct {
	endpoint.HashingReader
	g *gatedSrc
}

func (r gatedReader) ReadAt(b []byte, off int64) (int, error) {
	select {
	case <-r.g.gate:
	case <-r.g.ctx.Done():
		return 0, r.g.ctx.Err()
	}
	return r.HashingReader.ReadAt(b, off)
}

// TestUploadSendsSmallFilesWhileALargeOneIsHashed: a large file scanned
// unhashed, first in the batch, does not hold back the small files after
// it while it is read to be hashed: the small one is opened and read to
// its end before the large one can be read at all (a sender that hashed
// the large one first would wait here until the test's deadline), and
// then both land, verified.
func TestUploadSendsSmallFilesWhileALargeOneIsHashed(t *testing.T) {
	r := rng(t)
	e := newEnvUDP(t, true, nil)
	ep := e.mustDial(func(o *remote.Options) { o.Transport = config.UDP })
	dir := t.TempDir()
	contents := map[string][]byte{"a-big": randomBytes(r, 3<<20+5), "b-small": randomBytes(r, 10<<10)}
	for p, c := range contents {
		fileEntry(t, dir, p, c)
	}
	fs := local(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var items []endpoint.Transfer
	if err := fs.Scan(ctx, endpoint.ScanOptions{HashLater: true}, func(en tree.Entry) error {
		if en.Kind == tree.File {
			items = append(items, endpoint.Transfer{Source: en})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].Source.Path != "a-big" {
		t.Fatalf("scanned %+v, want a-big then b-small", items)
	}
	src := &gatedSrc{Endpoint: fs, big: "a-big", gate: make(chan struct{}), ctx: ctx}
	errs := ep.Upload(ctx, items, src, nil)
	for i, it := range items {
		if errs[i] != nil {
			t.Fatalf("%s: %v", it.Source.Path, errs[i])
		}
		if want := xxhash.Sum64(contents[it.Source.Path]); it.Source.Hash != want {
			t.Errorf("%s: Upload gave hash %x, want %x", it.Source.Path, it.Source.Hash, want)
		}
		mustEqualFile(t, filepath.Join(e.root, it.Source.Path), contents[it.Source.Path], it.Source.Mtime)
	}
}
