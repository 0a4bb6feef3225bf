package crypt

import (
	"bytes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/rfjakob/eme"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
	"golang.org/x/crypto/scrypt"

	"github.com/ferry-sync/ferry/tree"
)

// HeaderName is the name of the key header file in the root of an encrypted
// folder, reserved beside ferry's other names in package tree. It contains
// a '.' and a '-', which no encrypted name does (base32 with the hex
// alphabet), so it never collides with one; tree.IsTemp does not match it,
// so a caller listing an encrypted root must skip it itself.
const HeaderName = tree.KeyHeaderName

// headerFormat names the file format in the header's "format" field.
const headerFormat = "ferry-crypt"

// HeaderVersion is the only key header version this package reads and writes.
const HeaderVersion = 1

// KDFScrypt is the only key derivation function this package supports.
const KDFScrypt = "scrypt"

// Sizes of the key material.
const (
	SaltSize   = 32 // random salt stored in the header
	masterSize = 64 // scrypt output, the input key material of HKDF
	checkSize  = 32 // HMAC-SHA256 key check
	subkeySize = 32
)

// Bounds on KDF parameters a header may name: they keep a hostile or
// corrupt header from making Unlock allocate or compute without limit.
const (
	maxScryptN   = 1 << 20
	maxScryptR   = 32
	maxScryptP   = 16
	maxScryptMem = 1 << 30 // 128 * N * r bytes
	maxHeaderLen = 4096
)

var (
	// ErrWrongPassphrase reports that a passphrase does not open a header:
	// its key check does not match.
	ErrWrongPassphrase = errors.New("wrong passphrase")
	// ErrBadHeader reports a key header that is not one this package can read.
	ErrBadHeader = errors.New("invalid encryption key header")
)

// KDF names a key derivation function and its parameters. Only scrypt
// (RFC 7914) is supported.
type KDF struct {
	Name string `json:"name"`
	N    int    `json:"n"`
	R    int    `json:"r"`
	P    int    `json:"p"`
}

// DefaultKDF is the key derivation new headers use: scrypt with N = 2^17,
// r = 8, p = 1 (128 MiB of memory; see docs/encryption.md for its time).
func DefaultKDF() KDF {
	return KDF{Name: KDFScrypt, N: 1 << 17, R: 8, P: 1}
}

// EnsureValid checks that k is a supported function with parameters within
// the bounds this package accepts.
func (k KDF) EnsureValid() error {
	if k.Name != KDFScrypt {
		return fmt.Errorf("unsupported key derivation %q, want %q: %w", k.Name, KDFScrypt, ErrBadHeader)
	}
	if k.N < 2 || k.N > maxScryptN || k.N&(k.N-1) != 0 {
		return fmt.Errorf("scrypt N %d is not a power of two from 2 to %d: %w", k.N, maxScryptN, ErrBadHeader)
	}
	if k.R < 1 || k.R > maxScryptR || k.P < 1 || k.P > maxScryptP {
		return fmt.Errorf("scrypt r %d, p %d out of range (r 1 to %d, p 1 to %d): %w", k.R, k.P, maxScryptR, maxScryptP, ErrBadHeader)
	}
	if int64(128)*int64(k.N)*int64(k.R) > maxScryptMem {
		return fmt.Errorf("scrypt N %d, r %d needs more than %d bytes: %w", k.N, k.R, maxScryptMem, ErrBadHeader)
	}
	return nil
}

// Header is the content of the key header file (HeaderName): the salt and
// KDF parameters that turn a passphrase into Keys, and a key check that
// tells a wrong passphrase without decrypting anything. It holds no secret.
type Header struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	KDF     KDF    `json:"kdf"`
	Salt    []byte `json:"salt"`
	Check   []byte `json:"check"`
}

// NewHeader makes a header with a fresh salt read from rand and the default
// KDF, and returns it with the keys the passphrase derives.
func NewHeader(passphrase []byte, rand io.Reader) (Header, *Keys, error) {
	return NewHeaderWithKDF(passphrase, rand, DefaultKDF())
}

// NewHeaderWithKDF is NewHeader with explicit KDF parameters; tests use
// cheap ones. A header records its parameters, so it opens either way.
func NewHeaderWithKDF(passphrase []byte, rand io.Reader, kdf KDF) (Header, *Keys, error) {
	if err := kdf.EnsureValid(); err != nil {
		return Header{}, nil, err
	}
	if len(passphrase) == 0 {
		return Header{}, nil, errors.New("unable to make an encryption key: the passphrase is empty")
	}
	h := Header{Format: headerFormat, Version: HeaderVersion, KDF: kdf, Salt: make([]byte, SaltSize)}
	if _, err := io.ReadFull(rand, h.Salt); err != nil {
		return Header{}, nil, fmt.Errorf("unable to read a random salt: %w", err)
	}
	k, err := derive(passphrase, h.Salt, kdf)
	if err != nil {
		return Header{}, nil, err
	}
	h.Check = k.check()
	return h, k, nil
}

// ParseHeader decodes and checks a key header file.
func ParseHeader(b []byte) (Header, error) {
	if len(b) > maxHeaderLen {
		return Header{}, fmt.Errorf("key header is %d bytes, more than %d: %w", len(b), maxHeaderLen, ErrBadHeader)
	}
	var h Header
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&h); err != nil {
		return Header{}, fmt.Errorf("unable to parse key header: %v: %w", err, ErrBadHeader)
	}
	if d.More() {
		return Header{}, fmt.Errorf("unable to parse key header: data after the object: %w", ErrBadHeader)
	}
	if err := h.EnsureValid(); err != nil {
		return Header{}, err
	}
	return h, nil
}

// EnsureValid checks the header's format, version, KDF and field sizes.
func (h Header) EnsureValid() error {
	if h.Format != headerFormat {
		return fmt.Errorf("key header format %q, want %q: %w", h.Format, headerFormat, ErrBadHeader)
	}
	if h.Version != HeaderVersion {
		return fmt.Errorf("key header version %d, this ferry reads version %d: %w", h.Version, HeaderVersion, ErrBadHeader)
	}
	if err := h.KDF.EnsureValid(); err != nil {
		return err
	}
	if len(h.Salt) != SaltSize || len(h.Check) != checkSize {
		return fmt.Errorf("key header salt of %d bytes and check of %d, want %d and %d: %w", len(h.Salt), len(h.Check), SaltSize, checkSize, ErrBadHeader)
	}
	return nil
}

// Marshal encodes the header as the key header file's content.
func (h Header) Marshal() []byte {
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		panic(err) // plain fields: cannot fail
	}
	return append(b, '\n')
}

// Unlock derives the keys from passphrase and checks them against the
// header's key check; a mismatch is ErrWrongPassphrase.
func (h Header) Unlock(passphrase []byte) (*Keys, error) {
	if err := h.EnsureValid(); err != nil {
		return nil, err
	}
	k, err := derive(passphrase, h.Salt, h.KDF)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(k.check(), h.Check) {
		return nil, fmt.Errorf("unable to unlock the encryption keys: %w", ErrWrongPassphrase)
	}
	return k, nil
}

// Keys are the subkeys of one encrypted folder, each derived from the
// master key with HKDF-SHA256 under its own label, so no key serves two
// purposes. Keys is safe for concurrent use.
type Keys struct {
	name       [subkeySize]byte // EME (AES-256) over name segments
	nameTweak  [subkeySize]byte // HMAC-SHA256 of the parent path: EME tweak
	content    [subkeySize]byte // XChaCha20-Poly1305 over chunks
	chunkNonce [subkeySize]byte // HMAC-SHA256 of a chunk's SHA-256: its nonce
	frameLen   [subkeySize]byte // HMAC-SHA256 of a chunk's nonce: its length mask
	meta       [subkeySize]byte // XChaCha20-Poly1305 over a file's metadata
	metaNonce  [subkeySize]byte // HMAC-SHA256 of path and digest: its nonce
	keyCheck   [subkeySize]byte // HMAC-SHA256 of a fixed label: the key check

	eme         *eme.EMECipher
	contentAEAD cipher.AEAD
	metaAEAD    cipher.AEAD
}

// Labels of the subkeys (HKDF info). Changing one changes every ciphertext.
const (
	labelPrefix     = "ferry crypt v1 "
	labelName       = labelPrefix + "name"
	labelNameTweak  = labelPrefix + "name tweak"
	labelContent    = labelPrefix + "content"
	labelChunkNonce = labelPrefix + "chunk nonce"
	labelFrameLen   = labelPrefix + "frame length"
	labelMeta       = labelPrefix + "meta"
	labelMetaNonce  = labelPrefix + "meta nonce"
	labelKeyCheck   = labelPrefix + "key check"
	checkMessage    = "ferry crypt v1 passphrase check"
)

func derive(passphrase, salt []byte, kdf KDF) (*Keys, error) {
	master, err := scrypt.Key(passphrase, salt, kdf.N, kdf.R, kdf.P, masterSize)
	if err != nil {
		return nil, fmt.Errorf("unable to derive the master key: %w", err)
	}
	k := &Keys{}
	for _, s := range []struct {
		key   *[subkeySize]byte
		label string
	}{
		{&k.name, labelName},
		{&k.nameTweak, labelNameTweak},
		{&k.content, labelContent},
		{&k.chunkNonce, labelChunkNonce},
		{&k.frameLen, labelFrameLen},
		{&k.meta, labelMeta},
		{&k.metaNonce, labelMetaNonce},
		{&k.keyCheck, labelKeyCheck},
	} {
		if _, err := io.ReadFull(hkdf.New(sha256.New, master, nil, []byte(s.label)), s.key[:]); err != nil {
			return nil, fmt.Errorf("unable to derive a subkey: %w", err)
		}
	}
	clear(master)
	return k, k.init()
}

func (k *Keys) check() []byte {
	return hmacSum(k.keyCheck[:], []byte(checkMessage))
}

func hmacSum(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// init makes the ciphers from the subkeys.
func (k *Keys) init() error {
	var err error
	if k.eme, err = newEME(k.name[:]); err != nil {
		return err
	}
	if k.contentAEAD, err = chacha20poly1305.NewX(k.content[:]); err != nil {
		return fmt.Errorf("unable to make the content cipher: %w", err)
	}
	if k.metaAEAD, err = chacha20poly1305.NewX(k.meta[:]); err != nil {
		return fmt.Errorf("unable to make the header cipher: %w", err)
	}
	return nil
}
