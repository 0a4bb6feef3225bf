package gentree

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Spec describes a workload: Big files of BigSize bytes, plus Files files
// spread over Dirs directories with sizes uniform in [MinSize, MaxSize].
type Spec struct {
	Big              int
	BigSize          int64
	Files, Dirs      int
	MinSize, MaxSize int64
}

// Workload returns the named standard workload.
func Workload(name string) (Spec, error) {
	switch name {
	case "tree": // one 200 MiB file plus 2,000 files of 1–100 KB in 50 directories
		return Spec{Big: 1, BigSize: 200 << 20, Files: 2000, Dirs: 50, MinSize: 1000, MaxSize: 100_000}, nil
	case "small": // 10,000 files of 10 KB in 100 directories
		return Spec{Files: 10_000, Dirs: 100, MinSize: 10_000, MaxSize: 10_000}, nil
	}
	return Spec{}, fmt.Errorf("unknown workload %q: want tree or small", name)
}

// Generate writes spec under dir with a PCG stream seeded by seed, and
// returns the number of files and bytes written. The same seed gives the
// same tree, byte for byte.
func Generate(dir string, spec Spec, seed uint64) (files int, bytes int64, err error) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	write := func(p string, size int64) error {
		f, err := os.Create(p)
		if err != nil {
			return fmt.Errorf("unable to create %s: %w", p, err)
		}
		w := bufio.NewWriterSize(f, 1<<16)
		var buf [8]byte
		for n := int64(0); n < size; n += 8 {
			v := rng.Uint64()
			for i := range buf {
				buf[i] = byte(v >> (8 * i))
			}
			k := min(int64(8), size-n)
			if _, err := w.Write(buf[:k]); err != nil {
				f.Close()
				return fmt.Errorf("unable to write %s: %w", p, err)
			}
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return fmt.Errorf("unable to write %s: %w", p, err)
		}
		files++
		bytes += size
		return f.Close()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, fmt.Errorf("unable to create %s: %w", dir, err)
	}
	for i := range spec.Big {
		if err := write(filepath.Join(dir, fmt.Sprintf("big-%d.bin", i)), spec.BigSize); err != nil {
			return files, bytes, err
		}
	}
	dirs := max(spec.Dirs, 1)
	for d := range dirs {
		if err := os.MkdirAll(filepath.Join(dir, fmt.Sprintf("d%03d", d)), 0o755); err != nil {
			return files, bytes, fmt.Errorf("unable to create directory: %w", err)
		}
	}
	for i := range spec.Files {
		size := spec.MinSize
		if spec.MaxSize > spec.MinSize {
			size += rng.Int64N(spec.MaxSize - spec.MinSize + 1)
		}
		p := filepath.Join(dir, fmt.Sprintf("d%03d", i%dirs), fmt.Sprintf("f%06d.dat", i))
		if err := write(p, size); err != nil {
			return files, bytes, err
		}
	}
	return files, bytes, nil
}
