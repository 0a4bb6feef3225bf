package endpointtest

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/tree"
)

// Peer opens a folder on this machine as the other side of a batch (the
// caller's localfs; the suite cannot import it).
type Peer func(t *testing.T, root string) endpoint.Endpoint

// RunBatch checks an endpoint's Batch capability against peer folders:
// Upload and Download of new files, of a new version over an old one (a
// block delta where the endpoint does them), and of one that changed
// since it was listed, with one result per item, in order, and progress
// that adds up to the bytes in place.
func RunBatch(t *testing.T, factory Factory, peer Peer) {
	RunBatchBacking(t, func(t *testing.T) (endpoint.Endpoint, Backing) {
		ep, root := factory(t)
		return ep, OSBacking(root)
	}, peer)
}

// RunBatchBacking runs RunBatch's cases against endpoints made by
// factory, checking each through its Backing (an encrypted endpoint's
// plaintext view of its ciphertext).
func RunBatchBacking(t *testing.T, factory BackingFactory, peer Peer) {
	for _, download := range []bool{false, true} {
		name := "Upload"
		if download {
			name = "Download"
		}
		t.Run(name, func(t *testing.T) {
			ep, eb := factory(t)
			t.Cleanup(func() { ep.Close() })
			b, ok := ep.(endpoint.Batch)
			if !ok {
				t.Skip("the endpoint does not move files in batches")
			}
			other := t.TempDir()
			pe := peer(t, other)
			t.Cleanup(func() { pe.Close() })
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var src, dst endpoint.Endpoint = pe, ep
			var srcB, dstB Backing = OSBacking(other), eb
			if download {
				src, dst, srcB, dstB = ep, pe, eb, OSBacking(other)
			}
			batchCase(t, ctx, b, download, src, dst, srcB, dstB)
		})
	}
}

func batchCase(t *testing.T, ctx context.Context, b endpoint.Batch, download bool, src, dst endpoint.Endpoint, srcB, dstB Backing) {
	rng := rand.New(rand.NewPCG(21, 2))
	bytesOf := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		return p
	}
	big := bytesOf(3 << 20)
	edited := append(append([]byte(nil), big[:1<<20]...), append(bytesOf(1000), big[1<<20:]...)...)
	write := func(b Backing, p string, content []byte) {
		if err := b.WriteFile(p, content, 0o644, 0); err != nil {
			t.Fatal(err)
		}
	}
	write(srcB, "new/small.txt", []byte("small file"))
	write(srcB, "big.bin", edited)
	write(dstB, "big.bin", big)
	write(srcB, "gone.txt", []byte("listed, then deleted"))
	if err := dstB.Mkdir("new", 0o755); err != nil {
		t.Fatal(err)
	}
	stat := func(ep endpoint.Endpoint, p string, content []byte) tree.Entry {
		e, err := ep.Stat(ctx, p)
		if err != nil {
			t.Fatalf("Stat(%s): %v", p, err)
		}
		e.Hash = xxhash.Sum64(content)
		return e
	}
	items := []endpoint.Transfer{
		{Source: stat(src, "new/small.txt", []byte("small file"))},
		{Source: stat(src, "big.bin", edited), Expect: stat(dst, "big.bin", big)},
		{Source: stat(src, "gone.txt", []byte("listed, then deleted"))},
	}
	if err := srcB.Remove("gone.txt"); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	inPlace := map[string]int64{}
	progress := func(p string, n int64, _ bool) {
		mu.Lock()
		inPlace[p] += n
		mu.Unlock()
	}
	var errs []error
	if download {
		errs = b.Download(ctx, items, dst, progress)
	} else {
		errs = b.Upload(ctx, items, src, progress)
	}
	if len(errs) != len(items) {
		t.Fatalf("%d results for %d items", len(errs), len(items))
	}
	for i, want := range map[string][]byte{"new/small.txt": []byte("small file"), "big.bin": edited} {
		got, err := dstB.ReadFile(i)
		if err != nil || string(got) != string(want) {
			t.Errorf("%s: %d bytes, %v; want %d bytes as sent", i, len(got), err, len(want))
		}
		mu.Lock()
		if inPlace[i] != int64(len(want)) {
			t.Errorf("%s: progress says %d bytes in place, want %d", i, inPlace[i], len(want))
		}
		mu.Unlock()
	}
	if errs[0] != nil || errs[1] != nil {
		t.Errorf("results %v, want the first two to succeed", errs)
	}
	if errs[2] == nil || !(errors.Is(errs[2], os.ErrNotExist) || errors.Is(errs[2], endpoint.ErrChanged)) {
		t.Errorf("a source deleted after it was listed gave %v, want not-exist or ErrChanged", errs[2])
	}
	if _, err := dstB.Lstat("gone.txt"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file whose source was gone landed: %v", err)
	}
}
