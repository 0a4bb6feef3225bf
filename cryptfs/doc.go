// Package cryptfs is an encrypted endpoint: it wraps a remote endpoint (a
// ferry:// remote or a local folder) that holds only ciphertext and
// presents plaintext to the engine. Names are encrypted segment by
// segment and contents chunk by chunk (package crypt); the key header
// .ferry-crypt sits in the remote's root.
//
// Caveats: a scan buffers the whole listing to sort it by plaintext
// names (decrypted names sort differently from cipher names), so memory
// grows with the number of entries. Downloads are decrypted and verified
// in a temporary file under the state directory before a byte reaches
// the local folder; uploads of files written through CreateFile are
// spooled there too.
package cryptfs
