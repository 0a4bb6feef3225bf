// Package remote is the client side of `ferry serve`: an Endpoint (also an
// Uploader and a Downloader) for a `ferry://user@host:port/path` remote,
// reached over SSH with a pinned host key, carrying file data over the SSH
// connection itself.
//
// Caveats: host keys are pinned in a known_hosts file; an unknown key is
// refused (ErrUnknownHostKey) unless AcceptNewHostKey is set, and a changed
// key is always refused (ErrHostKeyChanged), never overwritten. A
// FileWriter's WriteAt only queues bytes: a write error on the server is
// reported by Commit. A lost connection gives errors wrapping
// ErrDisconnected; the next call dials again.
package remote
