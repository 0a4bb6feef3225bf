package data

import (
	"errors"
	"fmt"

	"github.com/ferry-sync/ferry/endpoint"
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
	case wire.CodeRetry:
		return endpoint.ErrHashMismatch
	case wire.CodeCanceled:
		return errCanceled
	}
	for _, k := range wireKinds {
		if k.code == e.Code {
			return k.kind.Err()
		}
	}
	return nil
}

var errCanceled = errors.New("transfer canceled")

// wireKinds maps the data protocol's codes to the endpoint kinds they
// carry (endpoint.Kind is the one table of sentinels).
var wireKinds = [...]struct {
	code wire.Code
	kind endpoint.Kind
}{
	{wire.CodeChanged, endpoint.KindChanged},
	{wire.CodeInTheWay, endpoint.KindInTheWay},
	{wire.CodeExists, endpoint.KindExists},
	{wire.CodeHashMismatch, endpoint.KindHashMismatch},
	{wire.CodeNoSpace, endpoint.KindNoSpace},
	{wire.CodeNotExist, endpoint.KindNotExist},
	{wire.CodePermission, endpoint.KindPermission},
}

// codeOf maps a local error to the code sent to the peer.
func codeOf(err error) wire.Code {
	switch {
	case err == nil:
		return wire.CodeOK
	case errors.Is(err, errCanceled):
		return wire.CodeCanceled
	}
	kind := endpoint.KindOf(err)
	for _, k := range wireKinds {
		if k.kind == kind {
			return k.code
		}
	}
	return wire.CodeFailed
}

func remoteErr(path string, code wire.Code, msg string) error {
	if code == wire.CodeOK {
		return nil
	}
	return &RemoteError{Path: path, Code: code, Msg: msg}
}
