package wire

import (
	"errors"
	"fmt"
)

// Version is the protocol version written in every header. Version 2
// packed the header from 27 bytes to 11: every byte of it is paid on every
// packet of every file. Version 3 dropped DATA's payload length and packed
// FILE's id, size and mode as varints. It is the last value the two bits
// hold: a next version needs the bits of another field.
const Version = 3

// HeaderLen is the size of the plaintext header of every packet: one byte
// of version, flags and type, the session id, and a 48-bit packet number.
const HeaderLen = 1 + SessionIDLen + NumberLen

// SessionIDLen is the size of a session id. It only routes packets to
// their session (the per-session key authenticates them), so it needs to
// be unique among one server's live sessions, not unguessable; the server
// draws it at random and draws again on a clash.
const SessionIDLen = 4

// NumberLen is the encoded size of a packet number.
const NumberLen = 6

// MaxNumber is the largest packet number the header carries: a session
// sending a million packets a second takes almost nine years to reach it.
const MaxNumber = 1<<(8*NumberLen) - 1

// Errors returned by the Parse functions.
var (
	// ErrShort: the buffer ends before the packet does.
	ErrShort = errors.New("packet truncated")
	// ErrMalformed: a field holds a value no sender produces.
	ErrMalformed = errors.New("malformed packet")
)

// SessionID names one data session; the control channel picks it at random.
type SessionID [SessionIDLen]byte

// Type says which body follows the header.
type Type uint8

const (
	TypeData Type = iota + 1 // 4 bits on the wire
	TypeFile
	TypeAccept
	TypeFeedback
	TypeProbe
	TypeResult
	TypeAbort
	TypeDone
	TypeFin
	TypePing
	typeEnd
)

var typeNames = [...]string{"", "DATA", "FILE", "ACCEPT", "FEEDBACK", "PROBE", "RESULT", "ABORT", "DONE", "FIN", "PING"}

func (t Type) String() string {
	if t > 0 && t < typeEnd {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Flags in the header.
const (
	// FlagFromReceiver marks packets sent by the receiving side of a
	// session. Each direction numbers its packets from its own counter, so
	// seal mixes this bit into the nonce to keep the two directions from
	// ever reusing one.
	FlagFromReceiver uint8 = 1 << 0
	flagsKnown             = FlagFromReceiver
)

// The first header byte: version in the top two bits, flags in the next
// two, type in the low four.
const (
	versionShift = 6
	flagsShift   = 4
	flagsMask    = 0x3
	typeMask     = 0xf
)

// Header starts every packet and is authenticated (not encrypted).
type Header struct {
	Type    Type
	Flags   uint8
	Session SessionID
	// Number is unique per direction within a session; retransmitted data
	// gets a new number, so a number is never sent twice.
	Number uint64
}

// Append appends the encoded header to b. Number must not exceed
// MaxNumber (seal refuses to go past it).
func (h Header) Append(b []byte) []byte {
	b = append(b, Version<<versionShift|(h.Flags&flagsMask)<<flagsShift|byte(h.Type)&typeMask)
	b = append(b, h.Session[:]...)
	return append48(b, h.Number)
}

// ParseHeader decodes a header from the start of b.
func ParseHeader(b []byte) (Header, int, error) {
	if len(b) < HeaderLen {
		return Header{}, 0, ErrShort
	}
	if v := b[0] >> versionShift; v != Version {
		return Header{}, 0, fmt.Errorf("%w: version %d", ErrMalformed, v)
	}
	h := Header{Type: Type(b[0] & typeMask), Flags: b[0] >> flagsShift & flagsMask}
	if h.Type == 0 || h.Type >= typeEnd {
		return Header{}, 0, fmt.Errorf("%w: type %d", ErrMalformed, h.Type)
	}
	if h.Flags&^flagsKnown != 0 {
		return Header{}, 0, fmt.Errorf("%w: flags %#x", ErrMalformed, h.Flags)
	}
	copy(h.Session[:], b[1:1+SessionIDLen])
	h.Number = uint48(b[1+SessionIDLen : HeaderLen])
	return h, HeaderLen, nil
}

// append48 appends the low 48 bits of v, big-endian (packet numbers and
// offsets).
func append48(b []byte, v uint64) []byte {
	return append(b, byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// uint48 decodes what append48 wrote; b holds at least 6 bytes.
func uint48(b []byte) uint64 {
	return uint64(b[0])<<40 | uint64(b[1])<<32 | uint64(b[2])<<24 | uint64(b[3])<<16 | uint64(b[4])<<8 | uint64(b[5])
}
