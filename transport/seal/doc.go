// Package seal encrypts and authenticates the packets of a ferry data
// session with AES-256-GCM, and drops forged, corrupted, truncated,
// duplicated and replayed packets, counting each by reason.
//
// The nonce is the packet number plus a direction bit, so the two sides of a
// session, which share one key, never use the same nonce. The plaintext
// header is the AAD: it cannot be altered, and the session id in it keeps
// packets of one session from being accepted by another. A sliding bitmap
// remembers the last ReplayWindow packet numbers.
//
// Caveats: a key must never be used for more than one session (the control
// channel draws a fresh one per session from crypto/rand). Open keeps the
// replay window without a lock: call it from one goroutine only, and Seal
// from one goroutine only (it may be another than Open's). Seal and
// Open work in place and overwrite the buffer they are given.
package seal
