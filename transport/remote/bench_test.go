package remote_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
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
		item := endpoint.Transfer{Source: tree.Entry{Path: name, Kind: tree.File, Size: int64(len(content)), Mtime: fi.ModTime().UnixNano(), Mode: 0o640, Hash: xxhash.Sum64(content)}}
		if errs := ep.Upload(context.Background(), []endpoint.Transfer{item}, lfs, nil); errs[0] != nil {
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

// BenchmarkUploadSmallFiles uploads 2,000 files of 10 KB in 20 directories
// per iteration over UDP on loopback to an in-process ferry serve, the
// shape of the `small` workload, and reports Mbit/s and files/s. The
// server's commits (fsync of file and directory) are included.
func BenchmarkUploadSmallFiles(b *testing.B) {
	const files, dirs, size = 2000, 20, 10 << 10
	r := rand.New(rand.NewPCG(3, 4))
	src := b.TempDir()
	items := make([]endpoint.Transfer, 0, files)
	for i := range files {
		// Tree order, as the syncer hands them over: a directory's files
		// one after another.
		d := fmt.Sprintf("d%02d", i/(files/dirs))
		if i%(files/dirs) == 0 {
			if err := os.Mkdir(filepath.Join(src, d), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		p := d + "/" + fmt.Sprintf("f%05d", i)
		content := randomBytes(r, size)
		if err := os.WriteFile(filepath.Join(src, p), content, 0o644); err != nil {
			b.Fatal(err)
		}
		fi, err := os.Lstat(filepath.Join(src, p))
		if err != nil {
			b.Fatal(err)
		}
		items = append(items, endpoint.Transfer{Source: tree.Entry{Path: p, Kind: tree.File, Size: size, Mtime: fi.ModTime().UnixNano(), Mode: 0o644, Hash: xxhash.Sum64(content)}})
	}
	e := newEnvUDP(b, true, nil)
	ep, err := e.dial(func(o *remote.Options) {
		o.Transport = config.UDP
		o.Bandwidth = config.Bandwidth{Policy: "fair", TargetRate: 1000_000_000}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer ep.Close()
	lfs := local(b, src)
	b.SetBytes(files * size)
	b.ResetTimer()
	var elapsed time.Duration
	for i := range b.N {
		b.StopTimer()
		dst := fmt.Sprintf("run%d", i)
		if err := os.Mkdir(filepath.Join(e.root, dst), 0o755); err != nil {
			b.Fatal(err)
		}
		for j := range dirs {
			if err := os.Mkdir(filepath.Join(e.root, dst, fmt.Sprintf("d%02d", j)), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		batch := make([]endpoint.Transfer, len(items))
		for j, it := range items {
			it.Source.Path = dst + "/" + it.Source.Path
			batch[j] = it
		}
		b.StartTimer()
		start := time.Now()
		errs := ep.Upload(context.Background(), batch, prefixed{lfs, dst + "/"}, nil)
		elapsed += time.Since(start)
		for j, err := range errs {
			if err != nil {
				b.Fatalf("%s: %v", batch[j].Source.Path, err)
			}
		}
	}
	b.ReportMetric(float64(b.N)*files*size*8/1e6/elapsed.Seconds(), "Mbit/s")
	b.ReportMetric(float64(b.N)*files/elapsed.Seconds(), "files/s")
	if st, ok := ep.DataStats(); ok {
		b.ReportMetric(float64(st.RetransmittedBytes)/float64(max(st.PayloadBytes, 1)), "retx/payload")
	}
}

// prefixed serves an endpoint's files under a path prefix, so one source
// folder feeds uploads to fresh destinations.
type prefixed struct {
	endpoint.Endpoint
	prefix string
}

func (p prefixed) OpenFile(ctx context.Context, path string) (endpoint.FileReader, error) {
	return p.Endpoint.OpenFile(ctx, strings.TrimPrefix(path, p.prefix))
}
