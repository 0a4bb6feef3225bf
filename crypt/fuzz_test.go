package crypt

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// fuzzKeys are made once per fuzz target: the KDF is the slow part.
func fuzzKeys(f *testing.F) *Keys {
	f.Helper()
	_, k, err := NewHeaderWithKDF([]byte("fuzz"), fixedSalt(), KDF{Name: KDFScrypt, N: 2, R: 1, P: 1})
	if err != nil {
		f.Fatal(err)
	}
	return k
}

func FuzzDecryptPath(f *testing.F) {
	k := fuzzKeys(f)
	for _, p := range []string{"a", "a/b/c", "Documents/report.pdf"} {
		c, err := k.EncryptPath(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(c)
	}
	f.Add("")
	f.Add("/")
	f.Add(HeaderName)
	f.Add("0000000000000000000000000w")
	f.Fuzz(func(t *testing.T, c string) {
		p, err := k.DecryptPath(c)
		if err != nil {
			if !errors.Is(err, ErrBadName) {
				t.Fatalf("DecryptPath(%q): %v does not match ErrBadName", c, err)
			}
			return
		}
		// Whatever decrypts is a valid path that encrypts back to c.
		back, err := k.EncryptPath(p)
		if err != nil || back != c {
			t.Fatalf("DecryptPath(%q) = %q, which encrypts to %q, %v", c, p, back, err)
		}
	})
}

func FuzzDecrypt(f *testing.F) {
	k := fuzzKeys(f)
	for _, b := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("abc"), 100)} {
		e, err := k.NewEncoder(Source{Path: "p", R: bytes.NewReader(b), Size: int64(len(b))})
		if err != nil {
			f.Fatal(err)
		}
		var c bytes.Buffer
		if _, err := e.WriteTo(&c); err != nil {
			f.Fatal(err)
		}
		f.Add(c.Bytes())
	}
	f.Add([]byte("FRYC"))
	f.Fuzz(func(t *testing.T, c []byte) {
		var out bytes.Buffer
		m, err := k.Decrypt(&out, bytes.NewReader(c), "p")
		if err != nil {
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("Decrypt: %v does not match ErrTampered", err)
			}
			return
		}
		if int64(out.Len()) != m.Size {
			t.Fatalf("Decrypt accepted %d bytes for a size of %d", out.Len(), m.Size)
		}
		if _, err := k.ReadHeader(bytes.NewReader(c), int64(len(c)), "p"); err != nil {
			t.Fatalf("Decrypt accepted what ReadHeader rejects: %v", err)
		}
		if _, err := io.Copy(io.Discard, &out); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	h, _, err := NewHeaderWithKDF([]byte("fuzz"), fixedSalt(), KDF{Name: KDFScrypt, N: 2, R: 1, P: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(h.Marshal())
	f.Add([]byte("{}"))
	f.Add([]byte(`{"format":"ferry-crypt","version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			if !errors.Is(err, ErrBadHeader) {
				t.Fatalf("ParseHeader: %v does not match ErrBadHeader", err)
			}
			return
		}
		again, err := ParseHeader(h.Marshal())
		if err != nil || !bytes.Equal(again.Marshal(), h.Marshal()) {
			t.Fatalf("a parsed header does not parse back the same: %v", err)
		}
		// Unlock must not run a KDF costlier than the bounds allow; cheap
		// ones only here, to keep the fuzzer fast.
		if h.KDF.N*h.KDF.R*h.KDF.P <= 1<<8 {
			if _, err := h.Unlock([]byte("fuzz")); err != nil && !errors.Is(err, ErrWrongPassphrase) {
				t.Fatalf("Unlock: %v", err)
			}
		}
	})
}
