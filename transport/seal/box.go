package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/ferry-sync/ferry/transport/wire"
)

// KeyLen is the key size: AES-256.
const KeyLen = 32

// Overhead is what sealing adds to a packet (the GCM tag).
const Overhead = 16

// Role is which side of a session a Box seals for.
type Role uint8

const (
	Sender Role = iota
	Receiver
)

// Reasons a packet is dropped by Open. Each is counted in Stats.
var (
	ErrShort        = errors.New("packet too short")
	ErrMalformed    = errors.New("malformed header")
	ErrWrongSession = errors.New("packet of another session")
	ErrWrongSide    = errors.New("packet from our own direction")
	ErrForged       = errors.New("packet failed authentication")
	ErrReplayed     = errors.New("packet number already seen")
	ErrTooOld       = errors.New("packet number below the replay window")
	// ErrNumberReused is returned by Seal when a packet number is not above
	// the last one sealed: sealing it would reuse a nonce.
	ErrNumberReused = errors.New("packet number not increasing")
)

// Stats counts opened and dropped packets. Safe to read at any time.
type Stats struct {
	Opened, Short, Malformed, WrongSession, WrongSide, Forged, Replayed, TooOld uint64
}

// Dropped sums every drop reason.
func (s Stats) Dropped() uint64 {
	return s.Short + s.Malformed + s.WrongSession + s.WrongSide + s.Forged + s.Replayed + s.TooOld
}

// Box seals outgoing and opens incoming packets of one session for one role.
type Box struct {
	aead    cipher.AEAD
	session wire.SessionID
	ourFlag uint8
	next    uint64 // next packet number to hand out; 0 is never used
	sealed  uint64 // last number sealed

	// Nonce buffers, one per direction (the sending and the reading
	// goroutine each use their own): a nonce on the stack escapes through
	// the AEAD interface, an allocation per packet.
	sealIV, openIV [12]byte

	win window

	opened, short, malformed, wrongSession, wrongSide, forged, replayed, tooOld atomic.Uint64
}

// New returns a Box for the given key (KeyLen bytes), session and role.
func New(key []byte, session wire.SessionID, role Role) (*Box, error) {
	if len(key) != KeyLen {
		return nil, fmt.Errorf("unable to create session cipher: key is %d bytes, want %d", len(key), KeyLen)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("unable to create session cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("unable to create session cipher: %w", err)
	}
	b := &Box{aead: aead, session: session, next: 1}
	if role == Receiver {
		b.ourFlag = wire.FlagFromReceiver
	}
	return b, nil
}

// Next returns the header of the next outgoing packet of type t, with a
// fresh packet number.
func (b *Box) Next(t wire.Type) wire.Header {
	h := wire.Header{Type: t, Flags: b.ourFlag, Session: b.session, Number: b.next}
	b.next++
	return h
}

func nonce(n *[12]byte, flags uint8, number uint64) {
	*n = [12]byte{}
	n[0] = flags & wire.FlagFromReceiver
	binary.BigEndian.PutUint64(n[4:], number)
}

// Seal encrypts pkt (an encoded header from Next followed by the plaintext
// body) in place and returns it with the tag appended. Give pkt Overhead
// bytes of spare capacity to avoid a copy.
func (b *Box) Seal(pkt []byte) ([]byte, error) {
	h, n, err := wire.ParseHeader(pkt)
	if err != nil {
		return nil, fmt.Errorf("unable to seal packet: %w", err)
	}
	if h.Session != b.session || h.Flags&wire.FlagFromReceiver != b.ourFlag {
		return nil, fmt.Errorf("unable to seal packet: header not made by this box")
	}
	if h.Number <= b.sealed {
		return nil, fmt.Errorf("unable to seal packet %d: %w", h.Number, ErrNumberReused)
	}
	b.sealed = h.Number
	nonce(&b.sealIV, h.Flags, h.Number)
	return b.aead.Seal(pkt[:n], b.sealIV[:], pkt[n:], pkt[:n]), nil
}

// Open authenticates and decrypts pkt in place, returning its header and
// plaintext body (aliasing pkt). Every error is one of the drop reasons
// above, already counted.
func (b *Box) Open(pkt []byte) (wire.Header, []byte, error) {
	return b.open(nil, pkt, true)
}

// OpenTo is Open that decrypts into dst (appending to it) and leaves pkt
// as it was: a reader whose buffer is reused for the next datagram gets
// the body into a buffer of its own in the same pass, instead of
// decrypting in place and copying it out. dst must not overlap pkt.
func (b *Box) OpenTo(dst, pkt []byte) (wire.Header, []byte, error) {
	return b.open(dst, pkt, false)
}

func (b *Box) open(dst, pkt []byte, inPlace bool) (wire.Header, []byte, error) {
	h, n, err := wire.ParseHeader(pkt)
	switch {
	case errors.Is(err, wire.ErrShort):
		b.short.Add(1)
		return h, nil, ErrShort
	case err != nil:
		b.malformed.Add(1)
		return h, nil, ErrMalformed
	case len(pkt)-n < Overhead:
		b.short.Add(1)
		return h, nil, ErrShort
	case h.Session != b.session:
		b.wrongSession.Add(1)
		return h, nil, ErrWrongSession
	case h.Flags&wire.FlagFromReceiver == b.ourFlag:
		b.wrongSide.Add(1)
		return h, nil, ErrWrongSide
	}
	switch b.win.check(h.Number) {
	case replayed:
		b.replayed.Add(1)
		return h, nil, ErrReplayed
	case tooOld:
		b.tooOld.Add(1)
		return h, nil, ErrTooOld
	}
	nonce(&b.openIV, h.Flags, h.Number)
	if inPlace {
		dst = pkt[n:n]
	}
	body, err := b.aead.Open(dst, b.openIV[:], pkt[n:], pkt[:n])
	if err != nil {
		b.forged.Add(1)
		return h, nil, ErrForged
	}
	b.win.mark(h.Number)
	b.opened.Add(1)
	return h, body, nil
}

// Stats returns the counters so far.
func (b *Box) Stats() Stats {
	return Stats{
		Opened: b.opened.Load(), Short: b.short.Load(), Malformed: b.malformed.Load(),
		WrongSession: b.wrongSession.Load(), WrongSide: b.wrongSide.Load(), Forged: b.forged.Load(),
		Replayed: b.replayed.Load(), TooOld: b.tooOld.Load(),
	}
}
