package remote_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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
