package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-sync/ferry/crypt"
	"github.com/ferry-sync/ferry/internal/cputime"
)

// Overhead of encryption, measured through the CLI against a real
// `ferry serve` on loopback (agent and server in this one process):
//
//	go test -run '^$' -bench 'Encrypted|Plain' -benchtime 3x ./cmd/ferry/
//
// BenchmarkNoChangePass* time a pass over 10,000 unchanged files;
// BenchmarkUpload* report CPU seconds per GB of a 256 MiB upload.

func benchJob(b *testing.B, encrypted bool) (*servedJob, string) {
	b.Helper()
	ctx := context.Background()
	s := startServedJob(b, ctx)
	if !encrypted {
		return s, s.jobs(b, "    direction: local-to-remote\n")
	}
	h, _, err := cryptHeaderForBench()
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.served, ".ferry-crypt"), h, 0o600); err != nil {
		b.Fatal(err)
	}
	pass := filepath.Join(s.dir, "docs.pass")
	if err := os.WriteFile(pass, []byte("correct horse\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	return s, s.jobs(b, "    direction: local-to-remote\n    encryption:\n      passphrase_file: "+pass+"\n")
}

func benchSync(b *testing.B, cfg string) {
	b.Helper()
	var out syncBuffer
	if code := run(context.Background(), &env{stdout: &out, stderr: &out}, []string{"sync", "--accept-new-host-key", "--config", cfg, "j"}); code != exitOK {
		b.Fatalf("ferry sync exited %d\n%s", code, out.String())
	}
}

func benchNoChangePass(b *testing.B, encrypted bool) {
	s, cfg := benchJob(b, encrypted)
	for d := range 100 {
		for f := range 100 {
			p := filepath.Join(s.local, fmt.Sprintf("d%03d", d), fmt.Sprintf("file-%03d.txt", f))
			if d == 0 || f == 0 {
				os.MkdirAll(filepath.Dir(p), 0o755)
			}
			if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	benchSync(b, cfg)
	benchSync(b, cfg) // the caches are warm from here on
	b.ResetTimer()
	for b.Loop() {
		benchSync(b, cfg)
	}
}

func BenchmarkNoChangePassPlain(b *testing.B)     { benchNoChangePass(b, false) }
func BenchmarkNoChangePassEncrypted(b *testing.B) { benchNoChangePass(b, true) }

func benchUpload(b *testing.B, encrypted bool) {
	const size = 256 << 20
	s, cfg := benchJob(b, encrypted)
	var cpu time.Duration
	for i := 0; b.Loop(); i++ {
		buf := make([]byte, size)
		r := mrand.New(mrand.NewPCG(1, uint64(i)))
		for j := 0; j < len(buf); j += 8 {
			binary.LittleEndian.PutUint64(buf[j:], r.Uint64())
		}
		if err := os.WriteFile(filepath.Join(s.local, fmt.Sprintf("big-%d.bin", i)), buf, 0o644); err != nil {
			b.Fatal(err)
		}
		start := cputime.Used()
		benchSync(b, cfg)
		cpu += cputime.Used() - start
	}
	b.ReportMetric(cpu.Seconds()/(float64(b.N)*size/1e9), "cpu-s/GB")
	b.SetBytes(size)
}

func BenchmarkUploadPlain(b *testing.B)     { benchUpload(b, false) }
func BenchmarkUploadEncrypted(b *testing.B) { benchUpload(b, true) }

// cryptHeaderForBench is a key header for "correct horse" with cheap KDF
// parameters, so a pass's unlock does not dominate what is measured.
func cryptHeaderForBench() ([]byte, []byte, error) {
	h, _, err := crypt.NewHeaderWithKDF([]byte("correct horse"), rand.Reader, cheapKDF)
	if err != nil {
		return nil, nil, err
	}
	return h.Marshal(), nil, nil
}
