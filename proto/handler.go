// Package proto defines what a protocol is to antnet: the Handler a node calls
// for every message, the Context handed to it, peer identity, the built-in
// hello payload and the errors a peer can send back.
package proto

import (
	"errors"

	"github.com/antnet-p2p/antnet/codec"
)

// Handler serves the messages a node receives. Handle runs on the node's event
// loop: it must not block. msg is valid only during the call; copy what you
// keep. For a request, the returned reply (or error) is sent back to the
// caller; a nil reply with a nil error sends an empty response, and a reply
// over the max frame size sends CodeTooLarge instead. For a notice or
// a gossip message the return values are ignored. A handler that needs to block
// calls ctx.Defer and answers later from another goroutine.
//
// Handle may run concurrently on several event loops; share state safely.
type Handler interface {
	Handle(ctx Context, msg []byte) (reply []byte, err error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx Context, msg []byte) ([]byte, error)

// Handle calls f(ctx, msg).
func (f HandlerFunc) Handle(ctx Context, msg []byte) ([]byte, error) { return f(ctx, msg) }

// Context describes the message being handled. It is valid only during
// Handle; do not keep it.
type Context interface {
	// Peer is the sender (for gossip, the neighbour that relayed it).
	Peer() PeerID
	// Origin is the node a broadcast started at; for other kinds it is
	// Peer. Parsing it for gossip allocates.
	Origin() PeerID
	// Kind is codec.KindRequest, codec.KindNotice or codec.KindGossip.
	Kind() codec.Kind
	// Short reports whether the message arrived on a short-mode connection.
	Short() bool
	// Defer detaches the reply from Handle: Handle's return values are
	// ignored and the caller gets whatever the returned Reply sends. Only
	// requests have a reply; for other kinds the Reply discards what it is
	// given. Costs one small allocation.
	Defer() Reply
}

// Reply answers a deferred request from any goroutine. Send may be called
// once; later calls return ErrReplySent and send nothing. Send can also fail
// with the errors of a send on the link (the link closed, the peer is not
// reading). A reply over the max frame size is not sent: Send returns
// codec.ErrFrameTooLarge and the caller gets an error-response with
// CodeTooLarge instead.
type Reply interface {
	Send(reply []byte, err error) error
}

// ErrReplySent: Reply.Send was called a second time; nothing was sent.
var ErrReplySent = errors.New("antnet: reply already sent")
