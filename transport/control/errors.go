package control

import (
	"context"
	"errors"
	"io/fs"

	"github.com/ferry-sync/ferry/syncer"
	"github.com/ferry-sync/ferry/tree"
)

// Code says which sentinel an Error stands for, so that errors.Is works on
// the client for errors that happened on the server.
type Code uint8

const (
	CodeOther Code = iota
	CodeNotExist
	CodeChanged
	CodeExists
	CodeNotEmpty
	CodeHashMismatch
	CodeNoSpace
	CodeInvalidPath
	CodePermission
	CodeProtocol
	CodeUnavailable
	CodeInTheWay
	CodeNoWatch
)

var sentinels = [...]struct {
	code Code
	err  error
}{
	{CodeNotExist, fs.ErrNotExist},
	{CodeChanged, syncer.ErrChanged},
	{CodeExists, syncer.ErrExists},
	{CodeNotEmpty, syncer.ErrNotEmpty},
	{CodeHashMismatch, syncer.ErrHashMismatch},
	{CodeNoSpace, syncer.ErrNoSpace},
	{CodeInvalidPath, tree.ErrInvalidPath},
	{CodePermission, fs.ErrPermission},
	{CodeProtocol, ErrProtocol},
	{CodeUnavailable, ErrUnavailable},
	{CodeInTheWay, syncer.ErrInTheWay},
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
	code := CodeOther
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			code = s.code
			break
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
	for _, s := range sentinels {
		if s.code == e.Code {
			return s.err
		}
	}
	return nil
}

// Err returns the client-side error for m.
func (m Error) Err() error { return &RemoteError{Code: m.Code, Message: m.Message} }

// FileErrorOf reports a server-side failure of one file of a data session.
func FileErrorOf(path string, err error) FileError {
	e := ErrorOf(err)
	return FileError{Path: path, Code: e.Code, Message: e.Message}
}
