// Package remote is the client side of `ferry serve`: an Endpoint (also an
// Batch) for a `ferry://user@host:port/path` remote,
// reached over SSH with a pinned host key. Upload and Download move a batch
// of files in one encrypted UDP data session (transport/data) negotiated
// over SSH, or stream them over the SSH connection itself (transport: tcp,
// or auto when UDP is blocked).
//
// Caveats: host keys are pinned in a known_hosts file; an unknown key is
// refused (ErrUnknownHostKey) unless AcceptNewHostKey is set, and a changed
// key is always refused (ErrHostKeyChanged), never overwritten. A
// FileWriter's WriteAt only queues bytes: a write error on the server is
// reported by Commit. A lost connection (or a data session whose peer
// vanished) gives errors wrapping ErrDisconnected; the next call dials
// again. With transport: auto, UDP found blocked is not tried again for 10
// minutes on that Endpoint. Partial files resume in both directions, but a
// partial left by a UDP session is restarted by the SSH stream and vice
// versa (their checkpoints differ).
//
// A URL may name several servers of one namespace (Options.Hosts): the
// endpoint is connected to one at a time, goes on to the next when one
// cannot be reached or its connection is lost, and sends the files a lost
// connection cut off again there, resuming their partials. Every server's
// host key is pinned under its own name, and a refused key ends the dial
// instead of passing the turn to the next server.
package remote
