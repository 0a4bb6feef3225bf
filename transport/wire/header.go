package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Version is the protocol version written in every header.
const Version = 1

// HeaderLen is the size of the plaintext header of every packet.
const HeaderLen = 1 + 1 + 1 + SessionIDLen + 8

// SessionIDLen is the size of a session id.
const SessionIDLen = 16

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
	TypeData Type = iota + 1
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

// Header starts every packet and is authenticated (not encrypted).
type Header struct {
	Type    Type
	Flags   uint8
	Session SessionID
	// Number is unique per direction within a session; retransmitted data
	// gets a new number, so a number is never sent twice.
	Number uint64
}

// Append appends the encoded header to b.
func (h Header) Append(b []byte) []byte {
	b = append(b, Version, byte(h.Type), h.Flags)
	b = append(b, h.Session[:]...)
	return binary.BigEndian.AppendUint64(b, h.Number)
}

// ParseHeader decodes a header from the start of b.
func ParseHeader(b []byte) (Header, int, error) {
	if len(b) < HeaderLen {
		return Header{}, 0, ErrShort
	}
	if b[0] != Version {
		return Header{}, 0, fmt.Errorf("%w: version %d", ErrMalformed, b[0])
	}
	h := Header{Type: Type(b[1]), Flags: b[2]}
	if h.Type == 0 || h.Type >= typeEnd {
		return Header{}, 0, fmt.Errorf("%w: type %d", ErrMalformed, b[1])
	}
	if h.Flags&^flagsKnown != 0 {
		return Header{}, 0, fmt.Errorf("%w: flags %#x", ErrMalformed, b[2])
	}
	copy(h.Session[:], b[3:3+SessionIDLen])
	h.Number = binary.BigEndian.Uint64(b[3+SessionIDLen:])
	return h, HeaderLen, nil
}
