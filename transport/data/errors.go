package data

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/transport/wire"
)

var (
	// ErrNoUDP: nothing at all came back from the peer within
	// Config.NoUDPTimeout of the start. UDP is probably blocked between the
	// two hosts; the caller should fall back to TCP.
	ErrNoUDP = errors.New("no UDP packets from the peer (is UDP blocked by a firewall?)")
	// ErrIdle: the peer went silent for Config.IdleTimeout mid-session.
	ErrIdle = errors.New("data session idle: the peer stopped answering")
	// ErrPeerClosed: the peer ended the session before it was complete.
	ErrPeerClosed = errors.New("peer ended the data session")
)

// RemoteError is a per-file failure reported by the other side. It unwraps
// to the syncer sentinel (or fs error) the remote side hit, so errors.Is
// works across hosts.
type RemoteError struct {
	Path string
	Code wire.Code
	Msg  string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

// Unwrap returns the sentinel matching the code.
func (e *RemoteError) Unwrap() error {
	switch e.Code {
	case wire.CodeChanged:
		return syncer.ErrChanged
	case wire.CodeExists:
		return syncer.ErrExists
	case wire.CodeHashMismatch, wire.CodeRetry:
		return syncer.ErrHashMismatch
	case wire.CodeNoSpace:
		return syncer.ErrNoSpace
	case wire.CodeNotExist:
		return fs.ErrNotExist
	case wire.CodePermission:
		return fs.ErrPermission
	case wire.CodeCanceled:
		return errCanceled
	case wire.CodeInTheWay:
		return syncer.ErrInTheWay
	}
	return nil
}

var errCanceled = errors.New("transfer canceled")

// codeOf maps a local error to the code sent to the peer.
func codeOf(err error) wire.Code {
	switch {
	case err == nil:
		return wire.CodeOK
	case errors.Is(err, syncer.ErrChanged):
		return wire.CodeChanged
	case errors.Is(err, syncer.ErrInTheWay):
		return wire.CodeInTheWay
	case errors.Is(err, syncer.ErrExists):
		return wire.CodeExists
	case errors.Is(err, syncer.ErrHashMismatch):
		return wire.CodeHashMismatch
	case errors.Is(err, syncer.ErrNoSpace):
		return wire.CodeNoSpace
	case errors.Is(err, fs.ErrNotExist):
		return wire.CodeNotExist
	case errors.Is(err, fs.ErrPermission):
		return wire.CodePermission
	case errors.Is(err, errCanceled):
		return wire.CodeCanceled
	}
	return wire.CodeFailed
}

func remoteErr(path string, code wire.Code, msg string) error {
	if code == wire.CodeOK {
		return nil
	}
	return &RemoteError{Path: path, Code: code, Msg: msg}
}
