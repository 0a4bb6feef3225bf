package crypt

import (
	"bytes"
	"fmt"
	"strings"
)

// LinkTargetPrefix starts an encrypted symbolic link target.
const LinkTargetPrefix = "ferry-crypt:"

// EncryptLinkTarget encrypts the target of the symbolic link at path (its
// plaintext path): the target is sealed as the content of a file, bound
// to path and to being a link's target (linkBinding), so that neither
// another link's target nor a file's content passes for it, base32-encoded as names are, after
// LinkTargetPrefix. It is 180 bytes and a third longer than the target
// (plus the prefix): file systems limit a target to about 4,096 bytes.
func (k *Keys) EncryptLinkTarget(path, target string) (string, error) {
	e, err := k.NewEncoder(Source{Path: linkBinding(path), R: strings.NewReader(target), Size: int64(len(target))})
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if _, err := e.WriteTo(&b); err != nil {
		return "", err
	}
	return LinkTargetPrefix + nameEncoding.EncodeToString(b.Bytes()), nil
}

// DecryptLinkTarget decrypts a target EncryptLinkTarget made for the link at
// path. Anything else, or a target moved from another link, fails with an
// error wrapping ErrTampered.
func (k *Keys) DecryptLinkTarget(path, cipher string) (string, error) {
	rest, ok := strings.CutPrefix(cipher, LinkTargetPrefix)
	if !ok {
		return "", tampered(path, "symbolic link target is not encrypted")
	}
	b, err := nameEncoding.DecodeString(rest)
	if err != nil {
		return "", tampered(path, "symbolic link target is not base32")
	}
	var out bytes.Buffer
	if _, err := k.Decrypt(&out, bytes.NewReader(b), linkBinding(path)); err != nil {
		return "", fmt.Errorf("symbolic link target: %w", err)
	}
	return out.String(), nil
}

// linkBinding is what a link target is bound to: its link's path, marked
// as a link's (a NUL is in no path), so that the server cannot turn an
// encrypted link into a regular file whose content is the sealed target,
// nor a file's content into a link.
func linkBinding(path string) string { return path + "\x00link" }
