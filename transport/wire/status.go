package wire

import (
	"encoding/binary"
	"fmt"
)

// MaxMsgLen bounds the human-readable message carried by Accept and Status.
const MaxMsgLen = 512

// Code is a per-file outcome on the wire. The data package maps codes to and
// from the syncer sentinel errors so errors.Is keeps working across hosts.
type Code uint8

const (
	CodeOK Code = iota
	CodeFailed
	CodeChanged
	CodeExists
	CodeHashMismatch
	CodeNoSpace
	CodeNotExist
	CodePermission
	// CodeRetry: the receiver's hash check failed; the sender should send
	// the file once more from scratch.
	CodeRetry
	CodeCanceled
	// CodeInTheWay: a file the receiver's ferry did not create is where
	// it must write first (endpoint.ErrInTheWay).
	CodeInTheWay
	codeEnd
)

// Valid reports whether c is a known code.
func (c Code) Valid() bool { return c < codeEnd }

// Status is the body of RESULT (receiver to sender: how a file ended) and of
// ABORT (sender to receiver: stop this file, it cannot be read).
type Status struct {
	ID   uint32
	Code Code
	Msg  string
}

// Append appends the encoded body to b.
func (s Status) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, s.ID)
	b = append(b, byte(s.Code))
	return appendStr(b, s.Msg, MaxMsgLen)
}

// ParseStatus decodes a Status body.
func ParseStatus(b []byte) (Status, int, error) {
	r := reader{b: b}
	s := Status{ID: r.u32(), Code: Code(r.u8()), Msg: r.str()}
	if r.err == nil && (!s.Code.Valid() || len(s.Msg) > MaxMsgLen) {
		r.err = ErrMalformed
	}
	if r.err != nil {
		return Status{}, 0, fmt.Errorf("unable to parse status: %w", r.err)
	}
	return s, r.off, nil
}

// Probe is the end-of-file probe: the sender has had every byte of a file
// acknowledged and asks for its result (and, for a resumed file, tells the
// receiver no more bytes are coming).
type Probe struct {
	ID   uint32
	Size int64
}

// Append appends the encoded body to b.
func (p Probe) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, p.ID)
	return binary.BigEndian.AppendUint64(b, uint64(p.Size))
}

// ParseProbe decodes a Probe body.
func ParseProbe(b []byte) (Probe, int, error) {
	r := reader{b: b}
	p := Probe{ID: r.u32(), Size: r.size()}
	if r.err != nil {
		return Probe{}, 0, fmt.Errorf("unable to parse PROBE: %w", r.err)
	}
	return p, r.off, nil
}

// Done tells the receiver every file has a result; it answers FIN. Done and
// FIN, like PING, carry the number of files the sender announced so the
// receiver can cross-check.
type Done struct {
	Files uint32
}

// Append appends the encoded body to b.
func (d Done) Append(b []byte) []byte { return binary.BigEndian.AppendUint32(b, d.Files) }

// ParseDone decodes a Done body (also used by FIN and PING).
func ParseDone(b []byte) (Done, int, error) {
	r := reader{b: b}
	d := Done{Files: r.u32()}
	if r.err != nil {
		return Done{}, 0, fmt.Errorf("unable to parse DONE: %w", r.err)
	}
	return d, r.off, nil
}
