// Package crypt owns ferry's content protection at rest: it turns a
// passphrase into keys (scrypt, then HKDF-SHA256 subkeys) recorded by a key
// header file, encrypts path names segment by segment (EME, deterministic),
// and encrypts file contents chunk by chunk (XChaCha20-Poly1305 with
// synthetic nonces, so equal chunks of one folder encrypt equally and delta
// keeps working), with a small fixed-size header that authenticates each
// file's size, hash, digest, frame order and plaintext path.
//
// It does no I/O of its own beyond the readers and writers it is given and
// knows nothing of endpoints. docs/encryption.md gives the threat model and
// the constructions.
//
// # Caveats
//
//   - Decrypt writes plaintext before it has verified the whole file: write
//     it to a temporary file and discard that unless Decrypt returns nil.
//   - Names are encrypted but not authenticated on their own: a changed
//     name usually fails with ErrBadName, rarely it decrypts to garbage;
//     the file's content is bound to its plaintext path, so Decrypt (and
//     ReadHeader) of a file under another name fails with ErrTampered.
//   - The key header file (HeaderName) lives among the encrypted files:
//     a caller listing an encrypted root must skip it.
package crypt
