package control

import (
	"context"
	"errors"

	"github.com/ferry-sync/ferry/endpoint"
)

// Code says which sentinel an Error stands for, so that errors.Is works on
// the client for errors that happened on the server.
type Code uint8

// The codes of the sentinels every endpoint knows are endpoint.Kind's
// numbers; the control protocol adds its own two.
const (
	CodeOther             = Code(endpoint.KindOther)
	CodeNotExist          = Code(endpoint.KindNotExist)
	CodeChanged           = Code(endpoint.KindChanged)
	CodeExists            = Code(endpoint.KindExists)
	CodeNotEmpty          = Code(endpoint.KindNotEmpty)
	CodeHashMismatch      = Code(endpoint.KindHashMismatch)
	CodeNoSpace           = Code(endpoint.KindNoSpace)
	CodeInvalidPath       = Code(endpoint.KindInvalidPath)
	CodePermission        = Code(endpoint.KindPermission)
	CodeProtocol     Code = 9
	CodeUnavailable  Code = 10
	CodeInTheWay          = Code(endpoint.KindInTheWay)
	CodeNoWatch      Code = 12
)

// own are the sentinels only the control protocol knows.
var own = [...]struct {
	code Code
	err  error
}{
	{CodeProtocol, ErrProtocol},
	{CodeUnavailable, ErrUnavailable},
	{CodeNoWatch, ErrNoWatch},
}

// ErrProtocol: the peer sent something the protocol does not allow.
var ErrProtocol = errors.New("control protocol violation")

// ErrNoWatch: the server cannot watch the folder for changes (the inotify
// watch limit, a filesystem without events); the client polls instead.
var ErrNoWatch = errors.New("server cannot watch the folder")

// ErrUnavailable: the server cannot serve the request now (shutting down,
// too busy, data sessions off); a retry later may succeed.
var ErrUnavailable = errors.New("service unavailable")

// ErrorOf turns a server-side error into the message sent to the client.
func ErrorOf(err error) Error {
	// The server cancels its requests only when it shuts down or the
	// client goes away: either way, a later retry may succeed.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Error{Code: CodeUnavailable, Message: "server is shutting down: " + err.Error()}
	}
	code := Code(endpoint.KindOf(err))
	if code == CodeOther {
		for _, s := range own {
			if errors.Is(err, s.err) {
				code = s.code
				break
			}
		}
	}
	return Error{Code: code, Message: err.Error()}
}

// RemoteError is an error that happened on the server. It unwraps to the
// sentinel its code names.
type RemoteError struct {
	Code    Code
	Message string
}

func (e *RemoteError) Error() string { return e.Message }

func (e *RemoteError) Unwrap() error {
	for _, s := range own {
		if s.code == e.Code {
			return s.err
		}
	}
	return endpoint.Kind(e.Code).Err()
}

// Err returns the client-side error for m.
func (m Error) Err() error { return &RemoteError{Code: m.Code, Message: m.Message} }

// FileErrorOf reports a server-side failure of one file of a data session.
func FileErrorOf(path string, err error) FileError {
	e := ErrorOf(err)
	return FileError{Path: path, Code: e.Code, Message: e.Message}
}
