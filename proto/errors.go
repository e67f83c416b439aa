package proto

import (
	"errors"
	"fmt"

	"github.com/antnet-p2p/antnet/codec"
)

// Code classifies an error-response. It travels as the first payload byte of
// an error frame; the rest is a UTF-8 message.
type Code uint8

// Error codes.
const (
	CodeHandler     Code = 1 // the handler returned an error
	CodePanic       Code = 2 // the handler panicked; the node recovered
	CodeUnsupported Code = 3 // the node has no handler for this kind of frame
	CodeShutdown    Code = 4 // the node is closing and takes no new requests
	CodeBusy        Code = 5 // a limit refused the request; retry later
	CodeTooLarge    Code = 6 // the answer would exceed the max frame size
)

// String names the code, or "code(N)" for an unknown one.
func (c Code) String() string {
	switch c {
	case CodeHandler:
		return "handler error"
	case CodePanic:
		return "handler panic"
	case CodeUnsupported:
		return "unsupported"
	case CodeShutdown:
		return "shutting down"
	case CodeBusy:
		return "busy"
	case CodeTooLarge:
		return "too large"
	}
	return fmt.Sprintf("code(%d)", uint8(c))
}

// Sentinels matched by errors.Is against a *RemoteError.
var (
	// ErrRemote matches every error a peer sent back.
	ErrRemote = errors.New("antnet: remote error")
	// ErrHandlerPanic matches a remote handler that panicked.
	ErrHandlerPanic = errors.New("antnet: remote handler panicked")
	// ErrRemoteShutdown matches a peer that refused because it is closing.
	ErrRemoteShutdown = errors.New("antnet: remote is shutting down")
	// ErrRemoteBusy matches a peer that refused because a limit was reached.
	ErrRemoteBusy = errors.New("antnet: remote is busy")
	// ErrUnsupported matches a peer that has no handler for the frame.
	ErrUnsupported = errors.New("antnet: unsupported by remote")
)

// RemoteError is the error a caller gets when the peer answered a request with
// an error-response. Use errors.Is with ErrRemote, ErrHandlerPanic,
// ErrRemoteShutdown, ErrRemoteBusy, ErrUnsupported or (for CodeTooLarge, a
// reply over the max frame size) codec.ErrFrameTooLarge, or errors.As to
// read the code and the peer's message.
type RemoteError struct {
	Peer    PeerID
	Code    Code
	Message string
}

// Error reports the code, the peer and its message.
func (e *RemoteError) Error() string {
	return fmt.Sprintf("antnet: %s from %s: %s", e.Code, e.Peer, e.Message)
}

// Is matches ErrRemote and the sentinel for e's code.
func (e *RemoteError) Is(target error) bool {
	switch target {
	case ErrRemote:
		return true
	case ErrHandlerPanic:
		return e.Code == CodePanic
	case ErrRemoteShutdown:
		return e.Code == CodeShutdown
	case ErrRemoteBusy:
		return e.Code == CodeBusy
	case ErrUnsupported:
		return e.Code == CodeUnsupported
	case codec.ErrFrameTooLarge:
		return e.Code == CodeTooLarge
	}
	return false
}

// AppendError appends an error-response payload: | code u8 | message |.
func AppendError(dst []byte, code Code, msg string) []byte {
	dst = append(dst, byte(code))
	return append(dst, msg...)
}

// ParseError decodes an error-response payload sent by peer.
func ParseError(peer PeerID, b []byte) *RemoteError {
	if len(b) == 0 {
		return &RemoteError{Peer: peer, Code: CodeHandler, Message: "empty error"}
	}
	return &RemoteError{Peer: peer, Code: Code(b[0]), Message: string(b[1:])}
}
