package crypt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/ferry-sync/ferry/delta/chunk"
)

// cheapKDF keeps tests fast; headers record their parameters.
var cheapKDF = KDF{Name: KDFScrypt, N: 1 << 10, R: 8, P: 1}

// fixedSalt is a reader giving the same salt every time: known answers.
func fixedSalt() io.Reader { return bytes.NewReader(bytes.Repeat([]byte{0x5a}, SaltSize)) }

func testKeys(t testing.TB) *Keys {
	t.Helper()
	_, k, err := NewHeaderWithKDF([]byte("correct horse battery staple"), fixedSalt(), cheapKDF)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// randomBytes returns n bytes from a seeded generator.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func encrypt(t testing.TB, k *Keys, path string, plain []byte) []byte {
	t.Helper()
	e, err := k.NewEncoder(Source{Path: path, R: bytes.NewReader(plain), Size: int64(len(plain))})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := e.WriteTo(&out); err != nil {
		t.Fatal(err)
	}
	if int64(out.Len()) != e.Size() {
		t.Fatalf("WriteTo wrote %d bytes, Size says %d", out.Len(), e.Size())
	}
	return out.Bytes()
}

func TestHeaderRoundTripAndWrongPassphrase(t *testing.T) {
	h, k, err := NewHeaderWithKDF([]byte("secret"), fixedSalt(), cheapKDF)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseHeader(h.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	k2, err := p.Unlock([]byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if k2.content != k.content || k2.name != k.name {
		t.Fatal("unlocked keys differ from the header's")
	}
	if _, err := p.Unlock([]byte("Secret")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: got %v, want ErrWrongPassphrase", err)
	}
	if _, _, err := NewHeaderWithKDF(nil, fixedSalt(), cheapKDF); err == nil {
		t.Fatal("empty passphrase accepted")
	}
}

func TestParseHeaderRejects(t *testing.T) {
	h, _, err := NewHeaderWithKDF([]byte("secret"), fixedSalt(), cheapKDF)
	if err != nil {
		t.Fatal(err)
	}
	good := string(h.Marshal())
	for name, b := range map[string]string{
		"empty":         "",
		"not json":      "FRYC",
		"unknown field": strings.Replace(good, `"format"`, `"extra": 1, "format"`, 1),
		"version":       strings.Replace(good, `"version": 1`, `"version": 2`, 1),
		"kdf":           strings.Replace(good, `"scrypt"`, `"argon2"`, 1),
		"huge N":        strings.Replace(good, `"n": 1024`, `"n": 1073741824`, 1),
		"N not pow2":    strings.Replace(good, `"n": 1024`, `"n": 1000`, 1),
		"trailing":      good + "{}",
		"short salt":    strings.Replace(good, `"salt": "`, `"salt": "AAAA`, 1),
	} {
		if _, err := ParseHeader([]byte(b)); !errors.Is(err, ErrBadHeader) {
			t.Errorf("%s: got %v, want ErrBadHeader", name, err)
		}
	}
}

func TestPathRoundTrip(t *testing.T) {
	k := testKeys(t)
	for _, p := range []string{"a", "a/b/c.txt", "Документы/отчёт.pdf", strings.Repeat("x", MaxNameLen), "dir with space/.hidden", strings.Repeat("y", 15), strings.Repeat("y", 16)} {
		c, err := k.EncryptPath(p)
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		if strings.Count(c, "/") != strings.Count(p, "/") {
			t.Fatalf("%q -> %q: depth changed", p, c)
		}
		for _, s := range strings.Split(c, "/") {
			if len(s) > 255 || strings.Trim(s, "0123456789abcdefghijklmnopqrstuv") != "" {
				t.Fatalf("%q -> segment %q not lower-case base32 of at most 255", p, s)
			}
		}
		back, err := k.DecryptPath(c)
		if err != nil || back != p {
			t.Fatalf("%q -> %q -> %q, %v", p, c, back, err)
		}
	}
	if c, err := k.EncryptPath(""); err != nil || c != "" {
		t.Fatalf("root: %q, %v", c, err)
	}
}

func TestPathDeterministicAndTweakedByParent(t *testing.T) {
	k := testKeys(t)
	a1, _ := k.EncryptPath("d1/same")
	a2, _ := k.EncryptPath("d1/same")
	b, _ := k.EncryptPath("d2/same")
	if a1 != a2 {
		t.Fatal("not deterministic")
	}
	if strings.Split(a1, "/")[1] == strings.Split(b, "/")[1] {
		t.Fatal("equal names in different directories encrypt equally")
	}
	// Moving d1's entry under d2 on the server: it must not decrypt as "same".
	moved := strings.Split(b, "/")[0] + "/" + strings.Split(a1, "/")[1]
	if p, err := k.DecryptPath(moved); err == nil && p == "d2/same" {
		t.Fatal("a name moved to another directory decrypts as if it had been made there")
	}
}

func TestNameTooLong(t *testing.T) {
	k := testKeys(t)
	long := "dir/" + strings.Repeat("n", MaxNameLen+1)
	_, err := k.EncryptPath(long)
	var ne *NameError
	if !errors.Is(err, ErrNameTooLong) || !errors.As(err, &ne) || ne.Path != long {
		t.Fatalf("got %v, want ErrNameTooLong naming the path", err)
	}
	c, err := k.EncryptPath(strings.Repeat("n", MaxNameLen))
	if err != nil || len(c) != maxCipherNameLen {
		t.Fatalf("longest name: %d chars, %v; want %d", len(c), err, maxCipherNameLen)
	}
}

func TestBadPaths(t *testing.T) {
	k := testKeys(t)
	for _, p := range []string{"/a", "a/", "a//b", "a/../b", "./a", "a\x00b"} {
		if _, err := k.EncryptPath(p); !errors.Is(err, ErrBadName) {
			t.Errorf("EncryptPath(%q): got %v, want ErrBadName", p, err)
		}
	}
	good, _ := k.EncryptPath("a/b")
	for _, c := range []string{"a", strings.ToUpper(good), good + "/", "/" + good, "0000000000000000000000000w", HeaderName, "00000000000000000000000000", strings.Repeat("0", 26)} {
		if _, err := k.DecryptPath(c); !errors.Is(err, ErrBadName) {
			t.Errorf("DecryptPath(%q): got %v, want ErrBadName", c, err)
		}
	}
	other := otherKeys(t)
	if _, err := other.DecryptPath(good); !errors.Is(err, ErrBadName) {
		t.Logf("another key decrypted %q without a padding error (1 in 256): %v", good, err)
	}
}

func otherKeys(t testing.TB) *Keys {
	_, k, err := NewHeaderWithKDF([]byte("another passphrase"), fixedSalt(), cheapKDF)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sizes covers empty, one chunk, the chunking threshold and a few chunks.
var sizes = []int{0, 1, 100, chunk.MinFileSize - 1, chunk.MinFileSize, chunk.MinFileSize + 1, 3 * chunk.MinFileSize}

func TestContentRoundTrip(t *testing.T) {
	k := testKeys(t)
	for i, n := range sizes {
		plain := randomBytes(uint64(i), n)
		c := encrypt(t, k, "dir/file", plain)
		var out bytes.Buffer
		m, err := k.Decrypt(&out, bytes.NewReader(c), "dir/file")
		if err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
		if !bytes.Equal(out.Bytes(), plain) {
			t.Fatalf("size %d: plaintext differs", n)
		}
		if m.Size != int64(n) || m.Hash != xxhash.Sum64(plain) {
			t.Fatalf("size %d: meta %+v", n, m)
		}
		rm, err := k.ReadHeader(bytes.NewReader(c), int64(len(c)), "dir/file")
		if err != nil || rm != m {
			t.Fatalf("size %d: ReadHeader %+v, %v; Decrypt %+v", n, rm, err, m)
		}
		if n >= chunk.MinFileSize {
			l := chunkList(t, plain)
			if m.Digest != chunk.ListDigest(l) || int64(len(c)) != EncryptedSize(int64(n), FrameCount(int64(n), l)) {
				t.Fatalf("size %d: digest or size not as the chunk list says", n)
			}
		} else if m.Digest != chunk.SmallDigest(plain) || int64(len(c)) != EncryptedSize(int64(n), FrameCount(int64(n), chunk.List{})) {
			t.Fatalf("size %d: digest or size not as a small file's", n)
		}
	}
}

func chunkList(t testing.TB, b []byte) chunk.List {
	c, ok := chunk.New(int64(len(b)), nil)
	if !ok {
		t.Fatal("no chunker")
	}
	c.Write(b)
	l, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestEncoderReadAtMatchesWriteTo reads the ciphertext at every kind of
// offset and length, and checks the encoder built from a scan's list and
// hash (no extra read) gives the same bytes.
func TestEncoderReadAtMatchesWriteTo(t *testing.T) {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	k := testKeys(t)
	plain := randomBytes(seed, 2*chunk.MinFileSize+12345)
	want := encrypt(t, k, "f", plain)
	e, err := k.NewEncoder(Source{Path: "f", R: bytes.NewReader(plain), Size: int64(len(plain)), Hash: xxhash.Sum64(plain), Chunks: chunkList(t, plain)})
	if err != nil {
		t.Fatal(err)
	}
	if e.Size() != int64(len(want)) {
		t.Fatalf("size %d, want %d", e.Size(), len(want))
	}
	for range 200 {
		off := r.Int64N(int64(len(want)) + 10)
		n := r.IntN(200000)
		if r.IntN(4) == 0 {
			off = r.Int64N(HeaderSize + 50)
		}
		got := make([]byte, n)
		m, err := e.ReadAt(got, off)
		end := min(off+int64(n), int64(len(want)))
		wantN := max(0, int(end-off))
		if m != wantN || (m < n && err != io.EOF) || (m == n && err != nil) {
			t.Fatalf("ReadAt(%d, %d) = %d, %v; want %d", n, off, m, err, wantN)
		}
		if !bytes.Equal(got[:m], want[off:off+int64(m)]) {
			t.Fatalf("ReadAt(%d, %d): bytes differ", n, off)
		}
	}
	// Reads that start or end exactly at a frame boundary, or span one.
	for _, s := range append([]int64{0, HeaderSize}, e.starts...) {
		for _, at := range []int64{s - 1, s, s + 1} {
			for _, n := range []int64{1, 2, int64(len(want))} {
				if at < 0 || at >= int64(len(want)) {
					continue
				}
				got := make([]byte, min(n, int64(len(want))-at))
				if m, err := e.ReadAt(got, at); m != len(got) || (err != nil && err != io.EOF) || !bytes.Equal(got, want[at:at+int64(m)]) {
					t.Fatalf("ReadAt(%d, %d) = %d, %v, or bytes differ", len(got), at, m, err)
				}
			}
		}
	}
	h, err := e.CipherHash()
	if err != nil || h != xxhash.Sum64(want) {
		t.Fatalf("CipherHash %x, %v; want %x", h, err, xxhash.Sum64(want))
	}
}

func TestEncoderNoticesChangedSource(t *testing.T) {
	k := testKeys(t)
	plain := randomBytes(3, 2*chunk.MinFileSize)
	src := bytes.Clone(plain)
	e, err := k.NewEncoder(Source{Path: "f", R: bytes.NewReader(src), Size: int64(len(src)), Hash: xxhash.Sum64(plain), Chunks: chunkList(t, plain)})
	if err != nil {
		t.Fatal(err)
	}
	src[len(src)-1] ^= 1
	if _, err := e.WriteTo(io.Discard); !errors.Is(err, ErrSourceChanged) {
		t.Fatalf("got %v, want ErrSourceChanged", err)
	}
	if _, err := k.NewEncoder(Source{Path: "f", R: bytes.NewReader(src), Size: 10, Hash: 1}); !errors.Is(err, ErrSourceChanged) {
		t.Fatalf("small file with another hash: got %v, want ErrSourceChanged", err)
	}
}

// TestEqualChunksEncryptEqually: a chunk gives the same frame at any offset
// of any file and path, which is what keeps delta and copies working.
func TestEqualChunksEncryptEqually(t *testing.T) {
	k := testKeys(t)
	base := randomBytes(7, 3*chunk.MinFileSize)
	edited := append(randomBytes(8, 1000), base...) // an insert at the start
	ca, cb := encrypt(t, k, "a", base), encrypt(t, k, "other/b", edited)
	ea, _ := k.NewEncoder(Source{Path: "a", R: bytes.NewReader(base), Size: int64(len(base))})
	eb, _ := k.NewEncoder(Source{Path: "other/b", R: bytes.NewReader(edited), Size: int64(len(edited))})
	set := map[[32]byte]bool{}
	for i, s := range ea.starts {
		set[sha256.Sum256(ca[s:s+ea.chunks[i].Len+FrameOverhead])] = true
	}
	shared := 0
	for i, s := range eb.starts {
		if set[sha256.Sum256(cb[s:s+eb.chunks[i].Len+FrameOverhead])] {
			shared++
		}
	}
	if shared < len(ea.starts)-3 {
		t.Fatalf("%d of %d frames shared after a small insert", shared, len(ea.starts))
	}
	if !bytes.Equal(encrypt(t, k, "a", base), ca) {
		t.Fatal("same file, same path: different ciphertext")
	}
}

func TestTamperingIsDetected(t *testing.T) {
	k := testKeys(t)
	plain := randomBytes(11, 2*chunk.MinFileSize+999)
	c := encrypt(t, k, "dir/f", plain)
	e, _ := k.NewEncoder(Source{Path: "dir/f", R: bytes.NewReader(plain), Size: int64(len(plain))})
	if len(e.starts) < 3 {
		t.Fatalf("want at least 3 frames, have %d", len(e.starts))
	}
	frame := func(i int) []byte { return c[e.starts[i] : e.starts[i]+e.chunks[i].Len+FrameOverhead] }
	flip := func(at int64) []byte { b := bytes.Clone(c); b[at] ^= 0x01; return b }
	swapped := append(append(append(bytes.Clone(c[:e.starts[0]]), frame(1)...), frame(0)...), c[e.starts[2]:]...)
	dup := append(append(bytes.Clone(c[:e.starts[1]]), frame(0)...), c[e.starts[2]:]...)
	other := encrypt(t, k, "dir/g", plain)
	small := encrypt(t, k, "dir/f", []byte("hello"))
	cases := map[string]struct {
		b    []byte
		path string
	}{
		"flip in header magic":   {flip(0), "dir/f"},
		"flip in header nonce":   {flip(prefixSize + 3), "dir/f"},
		"flip in header meta":    {flip(HeaderSize - 20), "dir/f"},
		"flip in frame nonce":    {flip(e.starts[1] + 2), "dir/f"},
		"flip in frame length":   {flip(e.starts[1] + nonceSize + 1), "dir/f"},
		"flip in frame content":  {flip(e.starts[1] + FrameOverhead + 100), "dir/f"},
		"flip in last tag":       {flip(int64(len(c) - 1)), "dir/f"},
		"truncated in header":    {c[:HeaderSize-1], "dir/f"},
		"truncated in frame":     {c[:len(c)-1], "dir/f"},
		"last frame dropped":     {c[:e.starts[len(e.starts)-1]], "dir/f"},
		"extended":               {append(bytes.Clone(c), 0), "dir/f"},
		"frames swapped":         {swapped, "dir/f"},
		"frame duplicated":       {dup, "dir/f"},
		"renamed":                {c, "dir/g"},
		"header from other path": {append(bytes.Clone(other[:HeaderSize]), c[HeaderSize:]...), "dir/f"},
		"header from other file": {append(bytes.Clone(small[:HeaderSize]), c[HeaderSize:]...), "dir/f"},
		"other passphrase":       {encrypt(t, otherKeys(t), "dir/f", plain), "dir/f"},
		"empty":                  {nil, "dir/f"},
	}
	for name, tc := range cases {
		_, err := k.Decrypt(io.Discard, bytes.NewReader(tc.b), tc.path)
		if !errors.Is(err, ErrTampered) {
			t.Errorf("%s: Decrypt: got %v, want ErrTampered", name, err)
		} else if !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: %v does not name the path", name, err)
		}
	}
	for _, name := range []string{"flip in header meta", "truncated in frame", "extended", "renamed", "header from other path", "truncated in header"} {
		tc := cases[name]
		if _, err := k.ReadHeader(bytes.NewReader(tc.b), int64(len(tc.b)), tc.path); !errors.Is(err, ErrTampered) {
			t.Errorf("%s: ReadHeader: got %v, want ErrTampered", name, err)
		}
	}
}

// TestKnownAnswers freezes the constructions: fixed passphrase, salt and
// cheap KDF give these names and this content ciphertext. A change to any
// label, key size, padding, tweak, nonce or layout breaks it, on purpose:
// files already on servers must keep decrypting.
func TestKnownAnswers(t *testing.T) {
	b, err := os.ReadFile("testdata/known_answers.json")
	if err != nil {
		t.Fatal(err)
	}
	var ka struct {
		Names    []struct{ Plain, Cipher string }
		Contents []struct {
			Size   int
			SHA256 string
		}
	}
	if err := json.Unmarshal(b, &ka); err != nil {
		t.Fatal(err)
	}
	if len(ka.Names) == 0 || len(ka.Contents) == 0 {
		t.Fatal("no known answers")
	}
	k := testKeys(t)
	for _, v := range ka.Names {
		got, err := k.EncryptPath(v.Plain)
		if err != nil || got != v.Cipher {
			t.Errorf("EncryptPath(%q) = %q, %v; want %q", v.Plain, got, err, v.Cipher)
		}
		if p, err := k.DecryptPath(v.Cipher); err != nil || p != v.Plain {
			t.Errorf("DecryptPath(%q) = %q, %v; want %q", v.Cipher, p, err, v.Plain)
		}
	}
	for _, v := range ka.Contents {
		plain := randomBytes(42, v.Size)
		c := encrypt(t, k, "Documents/report.pdf", plain)
		if got := sha256.Sum256(c); hex.EncodeToString(got[:]) != v.SHA256 {
			t.Errorf("ciphertext of %d bytes: SHA-256 %x, want %s", v.Size, got, v.SHA256)
		}
	}
}

// TestEncoderConcurrentReadAt: parallel readers (split transfers) get the
// right bytes though they share the one cached frame.
func TestEncoderConcurrentReadAt(t *testing.T) {
	k := testKeys(t)
	plain := randomBytes(5, 2*chunk.MinFileSize)
	want := encrypt(t, k, "f", plain)
	e, err := k.NewEncoder(Source{Path: "f", R: bytes.NewReader(plain), Size: int64(len(plain))})
	if err != nil {
		t.Fatal(err)
	}
	const readers, part = 4, 64 << 10
	errs := make(chan error, readers)
	for w := range readers {
		go func() {
			for off := int64(w * part); off < e.Size(); off += readers * part {
				b := make([]byte, part)
				n, err := e.ReadAt(b, off)
				if err != nil && err != io.EOF {
					errs <- err
					return
				}
				if !bytes.Equal(b[:n], want[off:off+int64(n)]) {
					errs <- errors.New("bytes differ at " + strconv.FormatInt(off, 10))
					return
				}
			}
			errs <- nil
		}()
	}
	for range readers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestReheadMovesAFile: frames are path-independent, so a file renamed on
// the server decrypts at its new path once its header is replaced, and only
// the header differs from encrypting it there.
func TestReheadMovesAFile(t *testing.T) {
	k := testKeys(t)
	plain := randomBytes(9, 2*chunk.MinFileSize)
	c := encrypt(t, k, "a/old", plain)
	h, err := k.Rehead(bytes.NewReader(c), int64(len(c)), "a/old", "b/new")
	if err != nil {
		t.Fatal(err)
	}
	moved := append(h, c[HeaderSize:]...)
	if !bytes.Equal(moved, encrypt(t, k, "b/new", plain)) {
		t.Fatal("reheaded file differs from one encrypted at the new path")
	}
	var out bytes.Buffer
	if _, err := k.Decrypt(&out, bytes.NewReader(moved), "b/new"); err != nil || !bytes.Equal(out.Bytes(), plain) {
		t.Fatalf("reheaded file: %v", err)
	}
	if _, err := k.Rehead(bytes.NewReader(c), int64(len(c)), "a/wrong", "b/new"); !errors.Is(err, ErrTampered) {
		t.Fatalf("rehead from the wrong path: %v, want ErrTampered", err)
	}
}

func TestLinkTarget(t *testing.T) {
	k := testKeys(t)
	for _, target := range []string{"", "../a/b", strings.Repeat("x", 2000)} {
		c, err := k.EncryptLinkTarget("dir/link", target)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := k.DecryptLinkTarget("dir/link", c); err != nil || got != target {
			t.Fatalf("%.20q: got %.20q, %v", target, got, err)
		}
		if _, err := k.DecryptLinkTarget("dir/other", c); !errors.Is(err, ErrTampered) {
			t.Fatalf("a target moved to another link: %v, want ErrTampered", err)
		}
	}
	for _, c := range []string{"../a/b", LinkTargetPrefix + "!", LinkTargetPrefix} {
		if _, err := k.DecryptLinkTarget("dir/link", c); !errors.Is(err, ErrTampered) {
			t.Errorf("%q: %v, want ErrTampered", c, err)
		}
	}
	// A link's sealed target is not a file's content at the same path,
	// nor the other way round: the server cannot turn one into the other.
	c, err := k.EncryptLinkTarget("dir/link", "../a/b")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := nameEncoding.DecodeString(strings.TrimPrefix(c, LinkTargetPrefix))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Decrypt(io.Discard, bytes.NewReader(sealed), "dir/link"); !errors.Is(err, ErrTampered) {
		t.Errorf("a link target read as the file at its path: %v, want ErrTampered", err)
	}
	e, err := k.NewEncoder(Source{Path: "dir/link", R: strings.NewReader("../a/b"), Size: 6})
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	if _, err := e.WriteTo(&file); err != nil {
		t.Fatal(err)
	}
	if _, err := k.DecryptLinkTarget("dir/link", LinkTargetPrefix+nameEncoding.EncodeToString(file.Bytes())); !errors.Is(err, ErrTampered) {
		t.Errorf("a file's content read as the link target at its path: %v, want ErrTampered", err)
	}
}
