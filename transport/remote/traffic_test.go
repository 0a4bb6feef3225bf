package remote_test

import (
	"context"
	"testing"

	"github.com/ferry-sync/ferry/config"
	"github.com/ferry-sync/ferry/endpoint"
	"github.com/ferry-sync/ferry/transport/remote"
)

// TestTrafficCountsTheBytesOnTheNetwork: what an upload moves shows in Link,
// over UDP (datagrams) and over the SSH connection alike, and no session
// is left running once the transfer returns.
func TestTrafficCountsTheBytesOnTheNetwork(t *testing.T) {
	for _, mode := range []config.TransportMode{config.UDP, config.TCP} {
		t.Run(string(mode), func(t *testing.T) {
			r := rng(t)
			e := newEnvUDP(t, mode == config.UDP, nil)
			ep := e.mustDial(func(o *remote.Options) { o.Transport = mode })
			before := ep.Traffic()
			if before.Sent == 0 || before.Received == 0 {
				t.Fatalf("the SSH handshake is not counted: %+v", before)
			}
			src := t.TempDir()
			const size = 600_000
			items := []endpoint.Transfer{{Source: fileEntry(t, src, "f", randomBytes(r, size))}}
			noErrors(t, ep.Upload(context.Background(), items, local(t, src), nil))
			after := ep.Traffic()
			if sent := after.Sent - before.Sent; sent < size || sent > 2*size {
				t.Errorf("Link counts %d bytes sent for a %d-byte upload", sent, size)
			}
			if after.Received <= before.Received {
				t.Errorf("nothing received during the upload: %d then %d", before.Received, after.Received)
			}
			if len(after.Sessions) != 0 {
				t.Errorf("%d data sessions still running after the upload", len(after.Sessions))
			}
			if _, udp := ep.DataStats(); udp != (mode == config.UDP) {
				t.Errorf("transport %s: a UDP session ran: %v", mode, udp)
			}
		})
	}
}
