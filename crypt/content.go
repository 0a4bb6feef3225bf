package crypt

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"sort"
	"sync"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/ferry-sync/ferry/delta/chunk"
)

// File format (see docs/encryption.md):
//
//	header  HeaderSize bytes:
//	  magic "FRYC", version 1, three zero bytes
//	  nonce 24 bytes: HMAC-SHA256(meta nonce key, path, digest, size)[:24]
//	  XChaCha20-Poly1305(meta key, nonce, AD = first 8 bytes and the
//	    plaintext path) of: size u64, xxhash64 u64, digest 32, frames u64,
//	    binding 32 (SHA-256 of the frames' nonces in order); 88 + 16 bytes
//	frames, one per chunk, in order, each FrameOverhead + chunk bytes:
//	  nonce 24 bytes: HMAC-SHA256(chunk nonce key, SHA-256(chunk))[:24]
//	  length u32 XOR HMAC-SHA256(frame length key, nonce)[:4]
//	  XChaCha20-Poly1305(content key, nonce, AD empty) of the chunk
const (
	magic         = "FRYC"
	formatVersion = 1
	prefixSize    = 8
	nonceSize     = chacha20poly1305.NonceSizeX
	tagSize       = chacha20poly1305.Overhead
	metaSize      = 8 + 8 + chunk.SumSize + 8 + sha256.Size
	lenSize       = 4
	// HeaderSize is the size of an encrypted file's header.
	HeaderSize = prefixSize + nonceSize + metaSize + tagSize
	// FrameOverhead is what each chunk's frame adds to its bytes.
	FrameOverhead = nonceSize + lenSize + tagSize
)

var (
	// ErrTampered reports an encrypted file that does not decrypt and
	// verify: changed, truncated, extended, its chunks reordered, or moved
	// from another path. Errors wrapping it name what failed.
	ErrTampered = errors.New("encrypted file failed verification")
	// ErrSourceChanged reports that a plaintext file changed while an
	// Encoder read it: it no longer matches the chunk list or hash given.
	ErrSourceChanged = errors.New("file changed while being encrypted")
)

// Meta is what an encrypted file's header says of its plaintext.
type Meta struct {
	Size   int64        // plaintext size
	Hash   uint64       // xxhash64 of the plaintext, as tree.Entry.Hash
	Digest chunk.Digest // as endpoint.Digests gives for the plaintext file
	Frames int          // number of chunks
}

// EncryptedSize is the size of the encrypted form of a plaintext of size
// bytes cut into frames chunks (FrameCount).
func EncryptedSize(size int64, frames int) int64 {
	return HeaderSize + size + int64(frames)*FrameOverhead
}

// FrameCount is the number of chunks a plaintext file of size bytes is cut
// into: none when empty, one under chunk.MinFileSize, else one per chunk of
// its list l.
func FrameCount(size int64, l chunk.List) int {
	switch {
	case size == 0:
		return 0
	case size < chunk.MinFileSize:
		return 1
	}
	return len(l.Chunks)
}

func tampered(path, format string, args ...any) error {
	return fmt.Errorf("%w: %q: %s", ErrTampered, path, fmt.Sprintf(format, args...))
}

// Source is a plaintext file to encrypt.
type Source struct {
	Path string      // its slash-separated relative path (bound to the ciphertext)
	R    io.ReaderAt // its content
	Size int64
	// Hash is its xxhash64 as the scan saw it (tree.Entry.Hash), zero if
	// unknown. If set, NewEncoder fails with ErrSourceChanged on a mismatch.
	Hash uint64
	// Chunks is its chunk list, for a file of chunk.MinFileSize bytes or
	// more; if empty (or Hash is zero) NewEncoder reads the file once to
	// make it. Files under MinFileSize are read once in any case.
	Chunks chunk.List
}

// Encoder is the encrypted form of one plaintext file, produced on demand:
// ReadAt seals the chunks covering the range asked for (and keeps the last
// one), so the ciphertext is never stored whole. It re-reads the plaintext
// and fails with ErrSourceChanged if a chunk no longer matches its list.
// An Encoder is safe for concurrent use.
type Encoder struct {
	k      *Keys
	path   string
	src    io.ReaderAt
	chunks []chunk.Chunk
	nonces [][nonceSize]byte
	starts []int64 // offset of each frame in the ciphertext
	header []byte
	meta   Meta

	mu     sync.Mutex
	cached int // index of the frame in frame, -1 for none
	frame  []byte
	plain  []byte
}

var _ io.ReaderAt = (*Encoder)(nil)

// NewEncoder prepares the encrypted form of s. It reads s once unless s
// carries both its hash and, for a file of chunk.MinFileSize bytes or more,
// its chunk list.
func (k *Keys) NewEncoder(s Source) (*Encoder, error) {
	if s.Size < 0 || s.Size > chunk.MaxTotal {
		return nil, fmt.Errorf("unable to encrypt %q: size %d out of range", s.Path, s.Size)
	}
	var (
		l      chunk.List
		digest chunk.Digest
		sum    uint64
	)
	switch {
	case s.Size == 0:
		digest, sum = chunk.SmallDigest(nil), xxhash.Sum64(nil)
	case s.Size < chunk.MinFileSize:
		b := make([]byte, s.Size)
		if err := readFull(s.R, b, 0); err != nil {
			return nil, fmt.Errorf("unable to read %q: %w", s.Path, err)
		}
		digest, sum = chunk.SmallDigest(b), xxhash.Sum64(b)
		l = chunk.List{Total: s.Size, Chunks: []chunk.Chunk{{Off: 0, Len: s.Size, Sum: digest}}}
	case s.Hash != 0 && len(s.Chunks.Chunks) > 0:
		if s.Chunks.Total != s.Size {
			return nil, fmt.Errorf("unable to encrypt %q: chunk list of %d bytes for a file of %d: %w", s.Path, s.Chunks.Total, s.Size, ErrSourceChanged)
		}
		if err := s.Chunks.EnsureValid(); err != nil {
			return nil, fmt.Errorf("unable to encrypt %q: %w", s.Path, err)
		}
		l, sum, digest = s.Chunks, s.Hash, chunk.ListDigest(s.Chunks)
	default:
		h := xxhash.New()
		c, _ := chunk.New(s.Size, h)
		if _, err := io.Copy(c, io.NewSectionReader(s.R, 0, s.Size)); err != nil {
			return nil, fmt.Errorf("unable to read %q: %w", s.Path, err)
		}
		var err error
		if l, err = c.List(); err != nil {
			return nil, fmt.Errorf("unable to encrypt %q: %w: %w", s.Path, err, ErrSourceChanged)
		}
		sum, digest = h.Sum64(), chunk.ListDigest(l)
	}
	if s.Hash != 0 && s.Hash != sum {
		return nil, fmt.Errorf("unable to encrypt %q: its content changed since the scan: %w", s.Path, ErrSourceChanged)
	}
	e := &Encoder{k: k, path: s.Path, src: s.R, chunks: l.Chunks, cached: -1}
	e.meta = Meta{Size: s.Size, Hash: sum, Digest: digest, Frames: len(l.Chunks)}
	e.nonces = make([][nonceSize]byte, len(l.Chunks))
	e.starts = make([]int64, len(l.Chunks))
	bind := sha256.New()
	at := int64(HeaderSize)
	for i, c := range l.Chunks {
		copy(e.nonces[i][:], hmacSum(k.chunkNonce[:], c.Sum[:]))
		bind.Write(e.nonces[i][:])
		e.starts[i] = at
		at += c.Len + FrameOverhead
	}
	e.header = k.sealMeta(s.Path, e.meta, bind.Sum(nil))
	return e, nil
}

// Size is the size of the ciphertext.
func (e *Encoder) Size() int64 { return EncryptedSize(e.meta.Size, e.meta.Frames) }

// Meta is what the header says of the plaintext.
func (e *Encoder) Meta() Meta { return e.meta }

// ReadAt reads the ciphertext at off (io.ReaderAt).
func (e *Encoder) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("unable to read %q encrypted: negative offset", e.path)
	}
	size := e.Size()
	n := 0
	for n < len(p) && off < size {
		var m int
		if off < HeaderSize {
			m = copy(p[n:], e.header[off:])
		} else {
			i := sort.Search(len(e.starts), func(i int) bool { return e.starts[i] > off }) - 1
			var err error
			if m, err = e.copyFrame(p[n:], i, off-e.starts[i]); err != nil {
				return n, err
			}
		}
		n += m
		off += int64(m)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (e *Encoder) copyFrame(p []byte, i int, at int64) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cached != i {
		e.cached = -1
		var err error
		if e.frame, e.plain, err = e.seal(e.frame[:0], e.plain, i); err != nil {
			return 0, err
		}
		e.cached = i
	}
	return copy(p, e.frame[at:]), nil
}

// seal appends frame i to dst, reading its chunk into plain (grown as
// needed), and returns both.
func (e *Encoder) seal(dst, plain []byte, i int) ([]byte, []byte, error) {
	c := e.chunks[i]
	if int64(cap(plain)) < c.Len {
		plain = make([]byte, c.Len)
	}
	plain = plain[:c.Len]
	if err := readFull(e.src, plain, c.Off); err != nil {
		return dst, plain, fmt.Errorf("unable to read %q: %w", e.path, err)
	}
	if sha256.Sum256(plain) != c.Sum {
		return dst, plain, fmt.Errorf("unable to encrypt %q: chunk at %d changed since the scan: %w", e.path, c.Off, ErrSourceChanged)
	}
	return e.k.sealFrame(dst, e.nonces[i], plain), plain, nil
}

// WriteTo writes the whole ciphertext to w in one sequential pass.
func (e *Encoder) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(e.header)
	total := int64(n)
	if err != nil {
		return total, err
	}
	var frame, plain []byte
	for i := range e.chunks {
		if frame, plain, err = e.seal(frame[:0], plain, i); err != nil {
			return total, err
		}
		n, err = w.Write(frame)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// CipherHash is the xxhash64 of the ciphertext, computed in one pass.
func (e *Encoder) CipherHash() (uint64, error) {
	h := xxhash.New()
	if _, err := e.WriteTo(h); err != nil {
		return 0, err
	}
	return h.Sum64(), nil
}

func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return fmt.Errorf("short read at %d: %w", off+int64(n), ErrSourceChanged)
	}
	return err
}

func (k *Keys) sealFrame(dst []byte, nonce [nonceSize]byte, plain []byte) []byte {
	dst = append(dst, nonce[:]...)
	var l [lenSize]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(plain)))
	mask := k.lenMask(nonce[:])
	for j := range l {
		l[j] ^= mask[j]
	}
	dst = append(dst, l[:]...)
	return k.contentAEAD.Seal(dst, nonce[:], plain, nil)
}

func (k *Keys) lenMask(nonce []byte) []byte {
	return hmacSum(k.frameLen[:], nonce)[:lenSize]
}

func headerPrefix() []byte {
	return []byte{magic[0], magic[1], magic[2], magic[3], formatVersion, 0, 0, 0}
}

func (k *Keys) sealMeta(path string, m Meta, binding []byte) []byte {
	pt := make([]byte, 0, metaSize)
	pt = binary.BigEndian.AppendUint64(pt, uint64(m.Size))
	pt = binary.BigEndian.AppendUint64(pt, m.Hash)
	pt = append(pt, m.Digest[:]...)
	pt = binary.BigEndian.AppendUint64(pt, uint64(m.Frames))
	pt = append(pt, binding...)
	var size [8]byte
	binary.BigEndian.PutUint64(size[:], uint64(m.Size))
	var plen [8]byte
	binary.BigEndian.PutUint64(plen[:], uint64(len(path)))
	nonce := hmacSum(k.metaNonce[:], plen[:], []byte(path), m.Digest[:], size[:])[:nonceSize]
	out := append(headerPrefix(), nonce...)
	return k.metaAEAD.Seal(out, nonce, pt, append(headerPrefix(), path...))
}

// openMeta checks and opens a header read from the file at path; it returns
// the metadata and the frame binding.
func (k *Keys) openMeta(b []byte, path string) (Meta, []byte, error) {
	if len(b) != HeaderSize {
		return Meta{}, nil, tampered(path, "truncated in its header")
	}
	if string(b[:len(magic)]) != magic {
		return Meta{}, nil, tampered(path, "not an encrypted file (no FRYC header)")
	}
	if !bytes.Equal(b[:prefixSize], headerPrefix()) {
		return Meta{}, nil, tampered(path, "unknown format version %d", b[len(magic)])
	}
	nonce := b[prefixSize : prefixSize+nonceSize]
	pt, err := k.metaAEAD.Open(nil, nonce, b[prefixSize+nonceSize:], append(headerPrefix(), path...))
	if err != nil {
		return Meta{}, nil, tampered(path, "header does not authenticate (changed, moved from another path, or another passphrase)")
	}
	var m Meta
	m.Size = int64(binary.BigEndian.Uint64(pt[0:]))
	m.Hash = binary.BigEndian.Uint64(pt[8:])
	copy(m.Digest[:], pt[16:16+chunk.SumSize])
	frames := binary.BigEndian.Uint64(pt[16+chunk.SumSize:])
	binding := pt[24+chunk.SumSize:]
	// An authentic header was made by NewEncoder, so these hold; they are
	// checked anyway so that no later arithmetic can overflow.
	if m.Size < 0 || m.Size > chunk.MaxTotal || frames > uint64(m.Size) ||
		(m.Size == 0) != (frames == 0) || (m.Size < chunk.MinFileSize && frames > 1) {
		return Meta{}, nil, tampered(path, "header with %d bytes in %d frames", m.Size, frames)
	}
	m.Frames = int(frames)
	return m, binding, nil
}

// ReadHeader reads and verifies just the header of the encrypted file at
// path (its plaintext path) of cipherSize bytes, and checks that size
// against it. The frames are not read: Decrypt verifies them.
func (k *Keys) ReadHeader(r io.ReaderAt, cipherSize int64, path string) (Meta, error) {
	if cipherSize < HeaderSize {
		return Meta{}, tampered(path, "%d bytes, shorter than a header", cipherSize)
	}
	b := make([]byte, HeaderSize)
	if n, err := r.ReadAt(b, 0); n < HeaderSize {
		if err == nil || errors.Is(err, io.EOF) {
			return Meta{}, tampered(path, "truncated in its header")
		}
		return Meta{}, fmt.Errorf("unable to read the header of %q: %w", path, err)
	}
	m, _, err := k.openMeta(b, path)
	if err != nil {
		return Meta{}, err
	}
	if want := EncryptedSize(m.Size, m.Frames); cipherSize != want {
		return Meta{}, tampered(path, "%d bytes, its header says %d (truncated or extended)", cipherSize, want)
	}
	return m, nil
}

// Decrypt reads the encrypted file at path (its plaintext path) from src and
// writes its plaintext to dst, verifying each frame as it goes and, at the
// end, the order and number of frames, the size, the hash and the digest.
// Any failure wraps ErrTampered (or is an I/O error of src or dst). dst
// receives plaintext before the whole file is verified: it must be a
// temporary file that the caller discards unless Decrypt returns nil.
func (k *Keys) Decrypt(dst io.Writer, src io.Reader, path string) (Meta, error) {
	hb := make([]byte, HeaderSize)
	if err := readStream(src, hb, path, "header"); err != nil {
		return Meta{}, err
	}
	m, binding, err := k.openMeta(hb, path)
	if err != nil {
		return Meta{}, err
	}
	maxLen := m.Size
	if p, ok := chunk.ParamsFor(m.Size); ok {
		maxLen = int64(p.Max)
	}
	var (
		bind   = sha256.New()
		xh     = xxhash.New()
		chunks []chunk.Chunk
		whole  hash.Hash // SHA-256 of the plaintext, for a file without a list
		head   [nonceSize + lenSize]byte
		buf    []byte
		off    int64
	)
	if m.Size < chunk.MinFileSize {
		whole = sha256.New()
	}
	for i := range m.Frames {
		if err := readStream(src, head[:], path, fmt.Sprintf("frame %d", i)); err != nil {
			return Meta{}, err
		}
		nonce := head[:nonceSize]
		mask := k.lenMask(nonce)
		var lb [lenSize]byte
		for j := range lb {
			lb[j] = head[nonceSize+j] ^ mask[j]
		}
		n := int64(binary.BigEndian.Uint32(lb[:]))
		if n < 1 || n > maxLen || n > m.Size-off {
			return Meta{}, tampered(path, "frame %d has an invalid length", i)
		}
		if int64(cap(buf)) < n+tagSize {
			buf = make([]byte, n+tagSize)
		}
		sealed := buf[:n+tagSize]
		if err := readStream(src, sealed, path, fmt.Sprintf("frame %d", i)); err != nil {
			return Meta{}, err
		}
		plain, err := k.contentAEAD.Open(sealed[:0], nonce, sealed, nil)
		if err != nil {
			return Meta{}, tampered(path, "frame %d does not authenticate", i)
		}
		sum := sha256.Sum256(plain)
		if !hmac.Equal(hmacSum(k.chunkNonce[:], sum[:])[:nonceSize], nonce) {
			return Meta{}, tampered(path, "frame %d has the wrong nonce for its content", i)
		}
		bind.Write(nonce)
		xh.Write(plain)
		if whole != nil {
			whole.Write(plain)
		} else {
			chunks = append(chunks, chunk.Chunk{Off: off, Len: n, Sum: sum})
		}
		off += n
		if _, err := dst.Write(plain); err != nil {
			return Meta{}, fmt.Errorf("unable to write the plaintext of %q: %w", path, err)
		}
	}
	var one [1]byte
	if n, _ := io.ReadFull(src, one[:]); n > 0 {
		return Meta{}, tampered(path, "data after its last frame")
	}
	if !hmac.Equal(bind.Sum(nil), binding) {
		return Meta{}, tampered(path, "frames reordered, duplicated or replaced")
	}
	if off != m.Size {
		return Meta{}, tampered(path, "%d bytes, its header says %d", off, m.Size)
	}
	var digest chunk.Digest
	if whole != nil {
		whole.Sum(digest[:0])
	} else {
		digest = chunk.ListDigest(chunk.List{Total: off, Chunks: chunks})
	}
	if digest != m.Digest || xh.Sum64() != m.Hash {
		return Meta{}, tampered(path, "content does not match its header's digest")
	}
	return m, nil
}

// readStream fills b from src; running out of data means the file was
// truncated.
func readStream(src io.Reader, b []byte, path, what string) error {
	if _, err := io.ReadFull(src, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return tampered(path, "truncated in its %s", what)
		}
		return fmt.Errorf("unable to read %q: %w", path, err)
	}
	return nil
}

// Rehead returns the header the encrypted file at path from (read from r,
// of cipherSize bytes) needs at path to: a file renamed or copied on the
// server keeps its frames, which do not depend on the path, and needs only
// this new header in its first HeaderSize bytes.
func (k *Keys) Rehead(r io.ReaderAt, cipherSize int64, from, to string) ([]byte, error) {
	if _, err := k.ReadHeader(r, cipherSize, from); err != nil {
		return nil, err
	}
	b := make([]byte, HeaderSize)
	if err := readFull(r, b, 0); err != nil {
		return nil, fmt.Errorf("unable to read the header of %q: %w", from, err)
	}
	m, binding, err := k.openMeta(b, from)
	if err != nil {
		return nil, err
	}
	return k.sealMeta(to, m, binding), nil
}
