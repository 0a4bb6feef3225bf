package remote_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/transport/remote"
	"github.com/ferry-sync/ferry/tree"
)

// benchUpload uploads one 64 MiB file per iteration over loopback and
// reports MB/s.
func benchUpload(b *testing.B, mode config.TransportMode) {
	r := rand.New(rand.NewPCG(1, 2))
	content := randomBytes(r, 64<<20)
	src := b.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), content, 0o640); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Lstat(filepath.Join(src, "f"))
	e := newEnvUDP(b, mode == config.UDP, nil)
	ep, err := e.dial(func(o *remote.Options) { o.Transport = mode })
	if err != nil {
		b.Fatal(err)
	}
	defer ep.Close()
	lfs := local(b, src)
	b.SetBytes(int64(len(content)))
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		name := fmt.Sprintf("f%d", i)
		if err := os.Rename(filepath.Join(src, "f"), filepath.Join(src, name)); err != nil {
			b.Fatal(err)
		}
		item := syncer.Transfer{Source: tree.Entry{Path: name, Kind: tree.File, Size: int64(len(content)), Mtime: fi.ModTime().UnixNano(), Mode: 0o640, Hash: xxhash.Sum64(content)}}
		if errs := ep.Upload(context.Background(), []syncer.Transfer{item}, lfs, nil); errs[0] != nil {
			b.Fatal(errs[0])
		}
		if err := os.Rename(filepath.Join(src, name), filepath.Join(src, "f")); err != nil {
			b.Fatal(err)
		}
		os.Remove(filepath.Join(e.root, name))
	}
	b.ReportMetric(float64(b.N)*float64(len(content))/1e6/time.Since(start).Seconds(), "MB/s")
}

func BenchmarkUploadSSHStream(b *testing.B) { benchUpload(b, config.TCP) }
func BenchmarkUploadUDP(b *testing.B)       { benchUpload(b, config.UDP) }
