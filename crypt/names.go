package crypt

import (
	"bytes"
	"crypto/aes"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"github.com/rfjakob/eme"
)

// Name length limits. An encrypted segment is the plaintext PKCS#7-padded
// to a multiple of 16 bytes (always at least one byte of padding), then
// base32 without padding, 8 characters per 5 bytes: 144 bytes give 231
// characters, 160 would give 256, one more than most file systems allow
// in a name. So a segment of at most 143 bytes encrypts to at most 231.
const (
	MaxNameLen       = 143 // longest plaintext path segment, in bytes
	maxCipherNameLen = 231 // longest encrypted segment, in characters
	nameBlock        = 16
)

var (
	// ErrNameTooLong reports a path segment longer than MaxNameLen bytes,
	// whose encrypted name would not fit in 255 bytes.
	ErrNameTooLong = errors.New("name too long to encrypt")
	// ErrBadName reports an encrypted name that does not decrypt: not
	// base32, a wrong length or bad padding (it was not made with these
	// keys, was changed, or moved to another directory), or a plaintext
	// path that is not a valid relative path.
	ErrBadName = errors.New("invalid encrypted name")
)

// NameError is the error of EncryptPath and DecryptPath: the whole path
// given, the segment that failed, and why. It matches ErrNameTooLong or
// ErrBadName with errors.Is.
type NameError struct {
	Path    string // the path as given
	Segment string // the segment that failed
	Reason  string
	Err     error // ErrNameTooLong or ErrBadName
}

func (e *NameError) Error() string {
	return fmt.Sprintf("%v: %q in %q: %s", e.Err, e.Segment, e.Path, e.Reason)
}

func (e *NameError) Unwrap() error { return e.Err }

// nameEncoding is base32 with the "extended hex" alphabet in lower case:
// names are valid and distinct on case-insensitive file systems too.
var nameEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// EncryptPath encrypts a slash-separated relative path segment by segment.
// Each segment is encrypted with EME under a tweak derived from its parent
// directory's plaintext path, so equal names in different directories
// encrypt differently, and a name moved to another directory on the server
// no longer decrypts. The empty path (the root) stays empty.
func (k *Keys) EncryptPath(plain string) (string, error) {
	if plain == "" {
		return "", nil
	}
	segs := strings.Split(plain, "/")
	out := make([]string, len(segs))
	for i, s := range segs {
		if reason := badSegment(s); reason != "" {
			return "", &NameError{Path: plain, Segment: s, Reason: reason, Err: ErrBadName}
		}
		if len(s) > MaxNameLen {
			return "", &NameError{Path: plain, Segment: s, Err: ErrNameTooLong,
				Reason: fmt.Sprintf("%d bytes, at most %d can be encrypted into a name of 255 bytes", len(s), MaxNameLen)}
		}
		padded := pad([]byte(s))
		c := k.eme.Encrypt(k.tweak(segs[:i]), padded)
		out[i] = nameEncoding.EncodeToString(c)
	}
	return strings.Join(out, "/"), nil
}

// DecryptPath decrypts a path EncryptPath made. A segment that was changed,
// or moved from another directory, fails with an error matching ErrBadName
// (rarely, one in 256, it decrypts to garbage instead: names are not
// authenticated, but a file's content is bound to its plaintext path).
func (k *Keys) DecryptPath(cipher string) (string, error) {
	if cipher == "" {
		return "", nil
	}
	segs := strings.Split(cipher, "/")
	out := make([]string, len(segs))
	for i, s := range segs {
		bad := func(reason string) error {
			return &NameError{Path: cipher, Segment: s, Reason: reason, Err: ErrBadName}
		}
		if s == "" || len(s) > maxCipherNameLen {
			return "", bad("wrong length")
		}
		c, err := nameEncoding.DecodeString(s)
		if err != nil || nameEncoding.EncodeToString(c) != s {
			return "", bad("not lower-case base32")
		}
		if len(c) == 0 || len(c)%nameBlock != 0 {
			return "", bad("wrong length")
		}
		p, ok := unpad(k.eme.Decrypt(k.tweak(out[:i]), c))
		if !ok {
			return "", bad("does not decrypt (changed, moved from another directory, or another passphrase)")
		}
		name := string(p)
		if reason := badSegment(name); reason != "" {
			return "", bad("decrypts to a name that " + reason)
		}
		out[i] = name
	}
	return strings.Join(out, "/"), nil
}

// badSegment says why s cannot be a segment of a relative path, or "".
func badSegment(s string) string {
	switch {
	case s == "":
		return "is empty"
	case s == "." || s == "..":
		return "is . or .."
	case strings.ContainsAny(s, "/\x00"):
		return "contains a slash or NUL"
	}
	return ""
}

// tweak is the EME tweak of the names in the directory whose plaintext
// path segments are parent.
func (k *Keys) tweak(parent []string) []byte {
	return hmacSum(k.nameTweak[:], []byte(strings.Join(parent, "/")))[:nameBlock]
}

func pad(b []byte) []byte {
	n := nameBlock - len(b)%nameBlock
	return append(append(make([]byte, 0, len(b)+n), b...), bytes.Repeat([]byte{byte(n)}, n)...)
}

func unpad(b []byte) ([]byte, bool) {
	if len(b) == 0 {
		return nil, false
	}
	n := int(b[len(b)-1])
	if n == 0 || n > nameBlock || n > len(b) {
		return nil, false
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, false
		}
	}
	return b[:len(b)-n], true
}

func newEME(key []byte) (*eme.EMECipher, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("unable to make the name cipher: %w", err)
	}
	return eme.New(b), nil
}
