package crypt

import (
	"bytes"
	"io"
	"testing"
)

// BenchmarkKDF times the default key derivation (docs/encryption.md gives
// the figure).
func BenchmarkKDF(b *testing.B) {
	salt := bytes.Repeat([]byte{1}, SaltSize)
	for b.Loop() {
		if _, err := derive([]byte("passphrase"), salt, DefaultKDF()); err != nil {
			b.Fatal(err)
		}
	}
}

const benchSize = 32 << 20

func BenchmarkEncrypt(b *testing.B) {
	k := testKeys(b)
	plain := randomBytes(1, benchSize)
	e, err := k.NewEncoder(Source{Path: "f", R: bytes.NewReader(plain), Size: benchSize})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	for b.Loop() {
		if _, err := e.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	k := testKeys(b)
	plain := randomBytes(1, benchSize)
	c := encrypt(b, k, "f", plain)
	b.SetBytes(benchSize)
	for b.Loop() {
		if _, err := k.Decrypt(io.Discard, bytes.NewReader(c), "f"); err != nil {
			b.Fatal(err)
		}
	}
}
