package data

import (
	"context"

	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/ferry-sync/ferry/delta/chunk"
	"github.com/ferry-sync/ferry/endpoint"

	"github.com/ferry-sync/ferry/transport/cc"
	"github.com/ferry-sync/ferry/transport/seal"
	"github.com/ferry-sync/ferry/transport/wire"
)

// Defaults for the zero fields of Config.
const (
	// DefaultPacketSize is the datagram size where the path cannot be
	// followed (not Linux): it fits a 1500 MTU with IPv6 and a little
	// tunnel overhead.
	DefaultPacketSize         = 1400
	DefaultFeedbackInterval   = 10 * time.Millisecond
	DefaultNoUDPTimeout       = 5 * time.Second
	DefaultIdleTimeout        = 30 * time.Second
	DefaultMaxOpenFiles       = 1024
	DefaultChunkSize          = 1 << 20
	DefaultCheckpointInterval = 2 * time.Second
	DefaultAdmitBudget        = 32 << 20
	// minPacketSize leaves room for a useful payload after every header.
	minPacketSize = 256
)

// Config is what both sides of a session need. The control channel agrees
// on Key and Session (and which UDP address to use) before either side runs.
type Config struct {
	// Key is the session's AES-256 key, seal.KeyLen bytes, fresh from
	// crypto/rand for every session.
	Key     []byte
	Session wire.SessionID
	// Peer is where to send the first packets. Nil: wait for the peer to
	// speak first and answer whoever did (with a valid key and session).
	// At least one side must know the other; behind NAT it is the client.
	Peer net.Addr
	// Rate is the sender's policy and caps. On a receiver it is what the
	// receiver asks the sender to keep to (zero: nothing asked).
	Rate cc.Config
	// Clock defaults to the system clock.
	Clock cc.Clock
	// Log defaults to discarding.
	Log *slog.Logger
	// PacketSize fixes the datagram size (UDP payload) the sender sends.
	// Zero (the default) follows the path: a session starts at
	// SafePacketSize and moves up to a full 1,500-byte MTU (1,472 bytes
	// over IPv4, 1,452 over IPv6) once a probe of that size is
	// acknowledged, and down to what the kernel reports when it refuses
	// a datagram as too big (Linux; elsewhere DefaultPacketSize).
	PacketSize int
	// FeedbackInterval is how often the receiver reports (default 10 ms).
	FeedbackInterval time.Duration
	// NoUDPTimeout: with no packet at all from the peer this long after
	// the start, the session gives up with ErrNoUDP (default 5 s).
	NoUDPTimeout time.Duration
	// IdleTimeout: once started, silence this long ends the session with
	// ErrIdle (default 30 s).
	IdleTimeout time.Duration
	// MaxOpenFiles bounds the files in flight at once (default 1024); the
	// sender holds a reader and the receiver a writer (a descriptor each)
	// per file in flight. Small files on a long path need many: each is in
	// flight for about two round trips.
	MaxOpenFiles int
	// ChunkSize is the resume granularity (receiver; default 1 MiB).
	ChunkSize int64
	// CheckpointInterval is how often the receiver saves resume
	// checkpoints of files being written (default 2 s).
	CheckpointInterval time.Duration
	// AdmitBudget bounds the unsent bytes of the files announced at once
	// (sender; default 32 MiB), so a big file does not let hundreds of
	// others hold open writers on the receiver meanwhile.
	AdmitBudget int64
	// Progress, if set, is told of bytes acknowledged (sender) or written
	// (receiver) per path; reused is set for bytes the receiver already
	// held (a resumed partial, or a file seeded from its old version) that
	// the sender verified instead of sending. It is called from the
	// session's loop: keep it quick.
	Progress func(path string, delta int64, reused bool)
	// Seed, if set, lets the receiver start a file from content it already
	// holds (receiver only). It is called once per file whose partial is
	// empty, off the session's loop, with the file's writer; it writes into
	// w the ranges of the file it can and returns them. They are offered
	// to the sender like a resumed partial, in chunks of SeedChunkSize,
	// and the sender sends only what they do not cover. An error is
	// logged and the file is sent whole.
	Seed func(ctx context.Context, f FileInfo, w endpoint.FileWriter) ([]chunk.Range, error)
	// NoGSO keeps every datagram its own send even where the kernel could
	// cut a run of them from one (UDP segmentation offload, Linux). Sends
	// fall back by themselves when a route refuses segmented sends; this
	// is for comparing the two.
	NoGSO bool
	// NoGRO reads every datagram on its own even where the kernel could
	// hand over a run of them from the peer in one buffer (UDP receive
	// coalescing, Linux 5.0+); this is for comparing the two.
	NoGRO bool
}

// ctrlPacketSize is the most a control packet split in parts (ACCEPT)
// fills: a size every path takes, whatever the data packets grow to.
func (c Config) ctrlPacketSize() int {
	if c.PacketSize > 0 {
		return c.PacketSize
	}
	return SafePacketSize
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (c Config) withDefaults() (Config, error) {
	if len(c.Key) != seal.KeyLen {
		return c, fmt.Errorf("unable to start data session: key is %d bytes, want %d", len(c.Key), seal.KeyLen)
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.PacketSize != 0 && (c.PacketSize < minPacketSize || c.PacketSize > wire.MaxPayload) {
		return c, fmt.Errorf("unable to start data session: packet size %d outside %d..%d", c.PacketSize, minPacketSize, wire.MaxPayload)
	}
	if c.FeedbackInterval <= 0 {
		c.FeedbackInterval = DefaultFeedbackInterval
	}
	if c.NoUDPTimeout <= 0 {
		c.NoUDPTimeout = DefaultNoUDPTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxOpenFiles <= 0 {
		c.MaxOpenFiles = DefaultMaxOpenFiles
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = DefaultChunkSize
	}
	if c.AdmitBudget <= 0 {
		c.AdmitBudget = DefaultAdmitBudget
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	return c, nil
}

var policyCodes = []cc.Policy{"", cc.Fixed, cc.High, cc.Fair, cc.Low}

func encodeRate(c cc.Config) wire.RateRequest {
	r := wire.RateRequest{Target: uint64(max(c.TargetRate, 0)), Min: uint64(max(c.MinRate, 0)), Max: uint64(max(c.MaxRate, 0))}
	for i, p := range policyCodes {
		if p == c.Policy && i > 0 {
			r.Policy = uint8(i)
		}
	}
	return r
}

// mergeRate combines the sender's own settings with what the receiver asks:
// the receiver's policy, target and floor win when given, and the lower of
// the two hard caps holds.
func mergeRate(own cc.Config, want wire.RateRequest) cc.Config {
	out := own
	if int(want.Policy) < len(policyCodes) && want.Policy > 0 {
		out.Policy = policyCodes[want.Policy]
	}
	if want.Target > 0 {
		out.TargetRate = float64(want.Target)
	}
	if want.Min > 0 {
		out.MinRate = float64(want.Min)
	}
	if m := float64(want.Max); m > 0 && (out.MaxRate <= 0 || m < out.MaxRate) {
		out.MaxRate = m
	}
	return out
}
