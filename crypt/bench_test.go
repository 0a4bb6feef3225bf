package crypt

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// BenchmarkKDF times the default key derivation (docs/encryption.md gives
// the figure), in CPU time too (cpu-s/op): scrypt with p = 1 runs on one
// thread.
func BenchmarkKDF(b *testing.B) {
	salt := bytes.Repeat([]byte{1}, SaltSize)
	var cpu time.Duration
	for b.Loop() {
		cpu += threadCPU(func() {
			if _, err := derive([]byte("passphrase"), salt, DefaultKDF()); err != nil {
				b.Fatal(err)
			}
		})
	}
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}

const benchSize = 32 << 20

// reportCPU adds MB/s per second of CPU time of the benchmark's thread.
func reportCPU(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(benchSize)*float64(b.N)/1e6/cpu.Seconds(), "cpu-MB/s")
}

// BenchmarkEncrypt: the whole ciphertext of a 32 MiB file whose chunk list
// and hash are known (as after a scan): SHA-256 of each chunk to check it
// is unchanged, XChaCha20-Poly1305.
func BenchmarkEncrypt(b *testing.B) {
	k := testKeys(b)
	plain := randomBytes(1, benchSize)
	e, err := k.NewEncoder(Source{Path: "f", R: bytes.NewReader(plain), Size: benchSize})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	var cpu time.Duration
	for b.Loop() {
		cpu += threadCPU(func() {
			if _, err := e.WriteTo(io.Discard); err != nil {
				b.Fatal(err)
			}
		})
	}
	reportCPU(b, cpu)
}

// BenchmarkDecrypt: XChaCha20-Poly1305, SHA-256 and xxhash of each chunk,
// and the whole-file checks.
func BenchmarkDecrypt(b *testing.B) {
	k := testKeys(b)
	plain := randomBytes(1, benchSize)
	c := encrypt(b, k, "f", plain)
	b.SetBytes(benchSize)
	var cpu time.Duration
	for b.Loop() {
		cpu += threadCPU(func() {
			if _, err := k.Decrypt(io.Discard, bytes.NewReader(c), "f"); err != nil {
				b.Fatal(err)
			}
		})
	}
	reportCPU(b, cpu)
}
